"""`asicrc sim`: run simulated devices standalone and print where they listen (one JSON line on stdout).

    asicrc sim --model s9|lv06|lbbox|bm1366|bm1387 [--count N] [--stratum HOST:PORT] [--seed S] [--speed X]

Network models serve their management APIs on 127.0.0.1 (ports in the JSON) and mine against --stratum when
given; serial models (bm1366, bm1387) print the pty path a host driver opens. Runs until interrupted
(Ctrl-C / SIGTERM) or for --duration wall seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from asicrc.drivers.clock import Clock
from asicrc.drivers.events import Subscription
from asicrc.drivers.registry import MODELS, simulated_models, uart_models
from asicrc.drivers.usererror import UserError

from .devices import SimFleet
from .serial_chain import SerialChainSim

# the command names a UART chain by its chip (bm1366), the registry by its link (bm1366-uart)
SERIAL_MODELS = {name.removesuffix("-uart"): name for name in uart_models()}


class SimCliError(UserError, ValueError):
    """A bad `asicrc sim` command line (one line for the CLI)."""


def parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SimCliError(f"--stratum must be HOST:PORT with a port in 1..65535, got {text!r}")
    return host, int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=[*simulated_models(), *SERIAL_MODELS],
                        help="device model to simulate")
    parser.add_argument("--count", type=int, default=1, help="number of devices (default 1)")
    parser.add_argument("--stratum", metavar="HOST:PORT", help="pool the network models mine against")
    parser.add_argument("--seed", type=int, default=0, help="seed: serials and sensor noise derive from it")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--ambient", type=float, default=25.0, help="ambient temperature, degC")
    parser.add_argument("--chips", type=int, default=1, help="chips per serial chain (bm1366/bm1387)")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many wall seconds (0: run)")


def validate(args: argparse.Namespace) -> tuple[str, int] | None:
    if not 1 <= args.count <= 64:
        raise SimCliError(f"--count must be 1..64, got {args.count}")
    if not 0 < args.speed <= 10_000:
        raise SimCliError(f"--speed must be in (0, 10000], got {args.speed}")
    if not -40 <= args.ambient <= 80:
        raise SimCliError(f"--ambient must be -40..80 degC, got {args.ambient}")
    if args.duration < 0:
        raise SimCliError(f"--duration must be >= 0, got {args.duration}")
    return parse_hostport(args.stratum) if args.stratum else None


def scaled_difficulty_note(difficulty_scale: float) -> str:
    """What a firmware author meets first: the chips' nonces are easy by ``difficulty_scale`` (docs/sim.md)."""
    return (f"asicrc sim: note: the simulated chips return nonces meeting ticket difficulty x {difficulty_scale:.3g} "
            f"(not x 1): firmware that submits only nonces with difficulty >= the pool's submits all of them at a "
            f"pool difficulty <= {256 * difficulty_scale:.2g} (ticket 256), a fraction "
            f"{256 * difficulty_scale:.2g} / pool difficulty above, i.e. nothing at ESP-Miner's suggested 1000; "
            f"counters and timing are unscaled (docs/sim.md, 'What real firmware sees')")


async def _warn_unreachable_pool(device_id: str, faults: Subscription, stratum: tuple[str, int]) -> None:
    """One stderr line per device the first time its pool cannot be reached (the firmware keeps retrying)."""
    async for ev in faults:
        if ev.data.get("reason") == "stratum-connect-failed":
            print(f"asicrc sim: warning: {device_id}: cannot reach pool {stratum[0]}:{stratum[1]} "
                  f"({ev.data.get('detail', '')}); retrying", file=sys.stderr, flush=True)
            return


async def serve(args: argparse.Namespace, stratum: tuple[str, int] | None) -> int:
    clock = Clock(args.speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    report: dict[str, Any] = {"model": args.model, "speed": args.speed, "seed": args.seed}
    chains: list[SerialChainSim] = []
    fleet: SimFleet | None = None
    watchers: list[asyncio.Task[None]] = []
    try:
        if args.model in SERIAL_MODELS:
            make_chain = MODELS[SERIAL_MODELS[args.model]].chain_simulator
            assert make_chain is not None  # uart_models() are the models with a chain simulator
            klass = make_chain()
            chains = [klass(serial=f"SIM-{args.model.upper()}-{args.seed:04d}-{i:03d}", seed=args.seed * 1000 + i,
                            clock=clock, chips=args.chips, ambient_c=args.ambient) for i in range(args.count)]
            for chain in chains:
                await chain.start()
            report["devices"] = [{"serial": c.serial, "port_path": c.port_path, "chips": c.chips,
                                  "difficulty_scale": c.difficulty_scale, "hash_scale": c.hash_scale} for c in chains]
            print(scaled_difficulty_note(chains[0].difficulty_scale), file=sys.stderr, flush=True)
        else:
            fleet = SimFleet.from_mapping({args.model: args.count}, clock=clock, stratum=stratum, seed=args.seed,
                                          ambient_c=args.ambient)
            if stratum is not None:
                watchers = [asyncio.create_task(_warn_unreachable_pool(d.device_id, d.fanout.subscribe(
                    kinds={"fault"}), stratum)) for d in fleet.devices]
            await fleet.start()
            report["devices"] = fleet.ports()
        print(json.dumps(report), flush=True)
        if args.duration > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        else:
            await stop.wait()
    finally:
        for task in watchers:
            task.cancel()
        if fleet is not None:
            await fleet.stop()
        for chain in chains:
            await chain.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    stratum = validate(args)
    try:
        return asyncio.run(serve(args, stratum))
    except OSError as exc:
        print(f"asicrc sim: error: {exc}", file=sys.stderr)
        return 1
