"""`asicrc stratum`: check one share offline, or run a standalone pool / upstream proxy.

  asicrc stratum share --notify JSON --extranonce1 HEX --submit JSON [--version-mask HEX]
  asicrc stratum serve [--host H] [--port N] [--difficulty D] [--lbry] [--upstream URL ...]
                       [--allow WORKER[:PASSWORD] ...] [--allow-peer WORKER=ADDRESS[/BITS] ...]
                       [--suggest-difficulty honour|floor|ignore]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from asicrc.drivers.usererror import UserError

from .auth import WorkerCredentials, parse_peers
from .limits import Limits
from .work import Notify, StratumFormatError, Submit, candidate_versions, nbits_to_target

_DEFAULT_LIMITS = Limits()


class UsageError(UserError, ValueError):
    """A bad `asicrc stratum` command line (one line for the CLI)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    share = sub.add_parser("share", help="rebuild a share's header from notify + submit; print hash and difficulty")
    share.add_argument("--notify", required=True,
                       help="mining.notify params as a JSON list (or the whole notify message)")
    share.add_argument("--extranonce1", required=True, help="the connection's extranonce1 (hex)")
    share.add_argument("--submit", required=True,
                       help="mining.submit params as a JSON list (or the whole submit message)")
    share.add_argument("--version-mask", default="1fffe000",
                       help="negotiated BIP310 mask for a 6-param submit (hex, default 1fffe000)")

    serve = sub.add_parser("serve", help="run a standalone Stratum v1 pool (or a proxy with --upstream)")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3333, help="listen port (default 3333; 0 = any free port)")
    serve.add_argument("--difficulty", type=float, default=1.0, help="initial share difficulty")
    serve.add_argument("--job-interval", type=float, default=30.0, help="seconds between new jobs (0: never)")
    serve.add_argument("--lbry", action="store_true", help="serve LBRY jobs (LB-Box)")
    serve.add_argument("--allow", action="append", metavar="WORKER[:PASSWORD]",
                       help="only these workers may authorize (repeatable; no password: any)")
    serve.add_argument("--allow-peer", action="append", metavar="WORKER=ADDRESS[/BITS]",
                       help="WORKER may authorize only from this address or network (repeatable; adds WORKER to "
                            "the allow-list)")
    serve.add_argument("--suggest-difficulty", choices=("honour", "floor", "ignore"), default="ignore",
                       help="what mining.suggest_difficulty may do (default ignore: the pool's difficulty rules)")
    serve.add_argument("--upstream", metavar="URL", action="append",
                       help="proxy mode: stratum+tcp://[user:pass@]host:port of a real pool; repeat for several "
                            "upstream sessions (jobs of all relayed, shares routed back to the issuing one)")
    serve.add_argument("--upstream-user", default="asicrc", help="worker name at the upstream pool")
    serve.add_argument("--upstream-password", default="x", help="password at the upstream pool")
    serve.add_argument("--print-shares", action="store_true", help="print every share event as a JSON line")
    serve.add_argument("--max-connections", type=int, default=_DEFAULT_LIMITS.max_connections, help="connection limit")
    serve.add_argument("--max-line", type=int, default=_DEFAULT_LIMITS.max_line_bytes, help="longest accepted line (bytes)")
    serve.add_argument("--handshake-timeout", type=float, default=_DEFAULT_LIMITS.handshake_timeout_s,
                       help="seconds a connection has to subscribe and authorize")
    serve.add_argument("--idle-timeout", type=float, default=_DEFAULT_LIMITS.idle_timeout_s,
                       help="close connections silent for this many seconds")
    serve.add_argument("--max-per-ip", type=int, default=_DEFAULT_LIMITS.max_connections_per_ip,
                       help="connections from one address")
    serve.add_argument("--max-pending-per-ip", type=int, default=_DEFAULT_LIMITS.max_pending_per_ip,
                       help="not-yet-authorized connections from one address (beyond: its oldest is closed)")
    serve.add_argument("--max-workers", type=int, default=_DEFAULT_LIMITS.max_workers_per_connection,
                       help="authorized workers per connection")
    serve.add_argument("--max-share-keys", type=int, default=_DEFAULT_LIMITS.max_share_keys,
                       help="duplicate-detection keys of the whole pool (~90 bytes each)")
    serve.add_argument("--upstream-timeout", type=float, default=10.0,
                       help="proxy mode: seconds an upstream pool may take to answer; a connected upstream that "
                            "lets a submit time out is dropped and reconnects")


def _json_params(text: str, what: str) -> list[Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--{what} is not valid JSON: {exc}") from None
    if isinstance(value, dict):
        value = value.get("params")
    if not isinstance(value, list):
        raise UsageError(f"--{what} must be a JSON list of params (or a message with 'params')")
    return value


def share_report(notify: Notify, extranonce1: bytes, submit: Submit, version_mask: int) -> dict[str, Any]:
    """Header, hash (display order) and share difficulty of one submit, as a JSON-ready dict."""
    from .validate import share_pow

    # like the pool: the BIP310 reading, or (job version with bits inside the mask) the one that hashes best
    difficulty, pow_hash, header, version = max(
        (*share_pow(notify, extranonce1, submit.extranonce2, submit.ntime, submit.nonce, v), v)
        for v in candidate_versions(notify.version, submit.version_bits, version_mask))
    return {
        "header": header.hex(),
        "hash": pow_hash[::-1].hex(),
        "difficulty": difficulty,
        "version": f"{version:08x}",
        "meets_nbits_target": int.from_bytes(pow_hash, "little") <= nbits_to_target(notify.nbits),
        "algorithm": "lbry" if notify.is_lbry else "sha256d",
    }


def run_share(args: argparse.Namespace) -> int:
    try:
        notify = Notify.from_params(_json_params(args.notify, "notify"))
        submit = Submit.from_params(_json_params(args.submit, "submit"))
    except StratumFormatError as exc:
        raise UsageError(str(exc)) from None
    try:
        extranonce1 = bytes.fromhex(args.extranonce1)
    except ValueError:
        raise UsageError(f"--extranonce1 must be hex bytes, got {args.extranonce1!r}") from None
    try:
        mask = int(args.version_mask, 16)
    except ValueError:
        raise UsageError(f"--version-mask must be hex, got {args.version_mask!r}") from None
    if not 0 <= mask <= 0xFFFFFFFF:
        raise UsageError(f"--version-mask must be a 32-bit hex value, got {args.version_mask!r}")
    if submit.job_id != notify.job_id:
        print(f"warning: submit job_id {submit.job_id!r} != notify job_id {notify.job_id!r}", file=sys.stderr)
    print(json.dumps(share_report(notify, extranonce1, submit, mask)))
    return 0


def _workers(allow: list[str] | None, peers: list[str] | None) -> dict[str, WorkerCredentials] | None:
    """--allow / --allow-peer entries as the pool's allow-list (None: anyone may authorize)."""
    if not allow and not peers:
        return None
    passwords: dict[str, str | None] = {}
    for entry in allow or ():
        worker, sep, password = entry.partition(":")
        if not worker:
            raise UsageError(f"--allow {entry!r}: empty worker name")
        passwords[worker] = password if sep else None
    networks: dict[str, list[str]] = {}
    for entry in peers or ():
        worker, sep, address = entry.partition("=")
        if not worker or not sep or not address:
            raise UsageError(f"--allow-peer {entry!r}: expected WORKER=ADDRESS[/BITS]")
        networks.setdefault(worker, []).append(address)
    out: dict[str, WorkerCredentials] = {}
    for worker in passwords.keys() | networks.keys():
        try:
            nets = parse_peers(networks.get(worker, ()), f"--allow-peer {worker}")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        out[worker] = WorkerCredentials(passwords.get(worker), nets)
    return out


async def _serve(args: argparse.Namespace) -> int:
    from asicrc.drivers.events import FanOut

    from .proxy import UpstreamProxy
    from .server import ServerConfig, StratumServer

    try:
        limits = Limits(max_connections=args.max_connections, max_line_bytes=args.max_line,
                        handshake_timeout_s=args.handshake_timeout, idle_timeout_s=args.idle_timeout,
                        max_connections_per_ip=args.max_per_ip, max_pending_per_ip=args.max_pending_per_ip,
                        max_workers_per_connection=args.max_workers, max_share_keys=args.max_share_keys)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = ServerConfig(host=args.host, port=args.port, difficulty=args.difficulty,
                          min_difficulty=min(1e-9, args.difficulty), job_interval_s=args.job_interval,
                          lbry=args.lbry, workers=_workers(args.allow, args.allow_peer),
                          suggest_difficulty=args.suggest_difficulty, limits=limits)
    fanout = FanOut()
    proxy: UpstreamProxy | None = None
    if args.upstream:
        if not args.upstream_timeout > 0:
            raise UsageError(f"--upstream-timeout must be > 0, got {args.upstream_timeout}")
        proxy = UpstreamProxy(args.upstream, args.upstream_user, args.upstream_password, config=config,
                              fanout=fanout, submit_timeout_s=args.upstream_timeout)
        try:
            server = await proxy.start()
        except (OSError, TimeoutError) as exc:
            # host:port only: an upstream URL may carry a password
            pools = ", ".join(f"{s.client.host}:{s.client.port}" for s in proxy.sessions)
            detail = str(exc) or "timed out waiting for its answer"
            raise UsageError(f"cannot reach the upstream pool ({pools}): {detail}") from None
    else:
        server = StratumServer(config, fanout=fanout)
        await server.start()
    # host:port only: an upstream URL may carry a password
    mode = f"proxy to {', '.join(f'{s.client.host}:{s.client.port}' for s in proxy.sessions)}" if proxy else ("LBRY pool" if args.lbry else "pool")
    # stderr: stdout carries only the --print-shares JSON lines, so `| jq` works on it as is
    print(f"asicrc stratum: {mode} listening on {args.host}:{server.port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    sub = fanout.subscribe(kinds={"share"}) if args.print_shares else None

    async def printer() -> None:
        assert sub is not None
        async for ev in sub:
            print(json.dumps({"t_ns": ev.t_ns, "device": ev.device, **ev.data}), flush=True)

    task = asyncio.create_task(printer()) if sub else None
    try:
        await stop.wait()
    finally:
        if task:
            task.cancel()
        if proxy:
            await proxy.stop()
        else:
            await server.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "share":
        return run_share(args)
    if args.port < 0 or args.port > 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    if not args.difficulty > 0:
        raise UsageError(f"--difficulty must be > 0, got {args.difficulty}")
    if not args.job_interval >= 0:
        raise UsageError(f"--job-interval must be >= 0 seconds (0: never), got {args.job_interval}")
    return asyncio.run(_serve(args))
