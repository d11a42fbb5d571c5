"""`asicrc probe HOST[:PORT]`: say which miner answers there (asicrc.drivers.probe) and which asicrc model it is."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict

from .api.goldshell import DEFAULT_PASSWORD
from .probe import parse_target, probe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="HOST[:PORT]", help="address of the miner (PORT: try every protocol there)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request (default 2)")
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help="Goldshell web password (default: factory)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    host, port = parse_target(args.target)
    if not args.timeout > 0:
        raise ValueError(f"--timeout must be > 0, got {args.timeout}")
    found, errors = asyncio.run(probe(host, port, args.timeout, args.password))
    if args.json:
        print(json.dumps({"host": host, "found": [asdict(f) for f in found], "errors": errors}))
    else:
        for f in found:
            hint = f"  (asicrc model: {f.asicrc_model})" if f.asicrc_model else ""
            print(f"{host}:{f.port}  {f.protocol:<9}  model: {f.model or '?'}  firmware: {f.firmware or '?'}{hint}")
        if not found:
            print(f"nothing identified at {args.target}:")
            for name, err in errors.items():
                print(f"  {name}: {err}")
    return 0 if found else 1
