"""`asicrc query METHOD [JSON]`: one request to a running daemon over MQTT; prints the reply as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from .client import add_connection_arguments, connection_from_args, request


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", help="status, devices, telemetry, reservoir, narma, tpf, ping, or a command "
                                       "(set_frequency, set_voltage, set_fan, set_difficulty, restart_device, "
                                       "start_narma, start_experiment, stop_experiment)")
    parser.add_argument("params", nargs="?", default="{}", help='JSON object of parameters, e.g. \'{"device": '
                                                                '"lv06", "mhz": 500}\'')
    add_connection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise ValueError(f"PARAMS is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ValueError("PARAMS must be a JSON object, e.g. '{\"device\": \"lv06\"}'")
    mq, node = connection_from_args(args)
    reply = asyncio.run(request(mq, node, args.method, params, args.timeout))
    print(json.dumps(reply, indent=2, sort_keys=True))
    if reply.get("status") != "ok":
        print(f"asicrc query: {node}: {reply.get('error', 'error')}", file=sys.stderr)
        return 1
    return 0
