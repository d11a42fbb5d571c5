"""`asicrc status [--all]`: the local node's status, or every node seen on the broker."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from .client import add_connection_arguments, connection_from_args, request, survey


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="list every asicrc node that announced itself")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_connection_arguments(parser)


def _print_node(status: dict[str, Any]) -> None:
    print(f"node {status.get('node')}  version {status.get('version')}  up {status.get('uptime_s', 0):.0f} s  "
          f"mqtt {'connected' if status.get('mqtt', {}).get('connected') else 'disconnected'}")
    tpf = status.get("tpf") or {}
    if tpf:
        print(f"tpf gate: {'ENABLED' if tpf.get('enabled') else 'off'} ({tpf.get('reason', '')})")
    print(f"{'DEVICE':<16} {'MODEL':<12} {'TRANSPORT':<9} {'STATE':<12} {'RESTARTS':>8}  LAST FAULT")
    for dev, d in sorted(status.get("devices", {}).items()):
        print(f"{dev:<16} {d.get('model', ''):<12} {d.get('transport', ''):<9} {d.get('state', ''):<12} "
              f"{d.get('restarts', 0):>8}  {d.get('last_fault', '')}")


def run(args: argparse.Namespace) -> int:
    mq, node = connection_from_args(args)
    if args.all:
        nodes = asyncio.run(survey(mq, min(args.timeout, 2.0), connect_s=args.timeout))
        if args.json:
            print(json.dumps(nodes, indent=2, sort_keys=True))
            return 0
        if not nodes:
            print(f"no asicrc nodes seen on {mq.host}:{mq.port} under {mq.base_topic}/")
            return 0
        print(f"{'NODE':<24} {'STATUS':<8} {'VERSION':<10} {'HOST':<20} {'STARTED':<20} DEVICES")
        for name, entry in sorted(nodes.items()):
            # retained info is whatever was published there (any broker client may write it): shown as text
            info = entry.get("info") or {}
            started = info.get("started_unix")
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) \
                if isinstance(started, (int, float)) and not isinstance(started, bool) and 0 < started < 1e11 else ""
            devices = info.get("devices")
            listed = ", ".join(map(str, devices)) if isinstance(devices, list) else ""
            print(f"{name:<24} {entry.get('status') or '?'!s:<8} {info.get('version', '')!s:<10} "
                  f"{info.get('host', '')!s:<20} {when:<20} {_cut(listed)}")
        return 0
    reply = asyncio.run(request(mq, node, "status", {}, args.timeout))
    if reply.get("status") != "ok":
        raise ValueError(f"node {node!r}: {reply.get('error')}")
    if args.json:
        print(json.dumps(reply["data"], indent=2, sort_keys=True))
    else:
        _print_node(reply["data"])
    return 0


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"
