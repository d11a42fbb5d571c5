"""`asicrc` command line: one dispatcher, each subcommand in the module that owns it.

A subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``; the module of ``asicrc NAME`` is
``cli_NAME.py`` (dashes as underscores) in the package that owns the command. Modules are imported only when
their command runs, so `asicrc frames` does not pay for MQTT or scikit-learn imports.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Protocol

from asicrc.drivers.usererror import UserError


class CommandModule(Protocol):
    """What the module of a subcommand provides."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# One loader per command: a function-level import, so a command pays only for its own imports and the type
# checker still sees every command module.
def _run() -> CommandModule:
    from . import cli_run

    return cli_run


def _status() -> CommandModule:
    from . import cli_status

    return cli_status


def _query() -> CommandModule:
    from . import cli_query

    return cli_query


def _sim() -> CommandModule:
    from asicrc.drivers.sim import cli_sim

    return cli_sim


def _frames() -> CommandModule:
    from asicrc.drivers.serial import cli_frames

    return cli_frames


def _stratum() -> CommandModule:
    from asicrc.drivers.stratum import cli_stratum

    return cli_stratum


def _probe() -> CommandModule:
    from asicrc.drivers import cli_probe

    return cli_probe


def _narma() -> CommandModule:
    from asicrc.reservoir import cli_narma

    return cli_narma


def _tpf() -> CommandModule:
    from asicrc.reservoir.tpf import cli_tpf

    return cli_tpf


def _puf() -> CommandModule:
    from asicrc.reservoir.puf import cli_puf

    return cli_puf


def _vbm_ab() -> CommandModule:
    from asicrc.reservoir.vbm import cli_vbm_ab

    return cli_vbm_ab


# name -> (loader of its module, one-line help)
COMMANDS: dict[str, tuple[Callable[[], CommandModule], str]] = {
    "run": (_run, "run the daemon (embedded simulated fleet when no config is given)"),
    "status": (_status, "ask a running daemon (over MQTT) for its status"),
    "query": (_query, "send a request to a running daemon over MQTT"),
    "sim": (_sim, "run simulated S9/LV06/LB-Box devices"),
    "frames": (_frames, "decode/encode BM1366/BM1387 serial frames"),
    "stratum": (_stratum, "Stratum v1 tools: share check, standalone pool"),
    "probe": (_probe, "identify the miner answering at HOST[:PORT]"),
    "narma": (_narma, "NARMA-10 reservoir benchmark with controls"),
    "tpf": (_tpf, "thermodynamic probability filter experiment"),
    "puf": (_puf, "device fingerprint enrol/verify/evaluate"),
    "vbm-ab": (_vbm_ab, "A/B test of the virtual block manager option"),
}


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception, so a batch command unwinds (finally blocks, closed files) like Ctrl-C."""


class _DropInterruptTracebacks(logging.Filter):
    """asyncio logs "Task exception was never retrieved" with a traceback for a task that Ctrl-C/SIGTERM hit;
    the dispatcher already printed one line for that interruption."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, KeyboardInterrupt)


_DROP_INTERRUPT_TRACEBACKS = _DropInterruptTracebacks()  # one instance: addFilter ignores repeats


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def describe_error(exc: BaseException) -> str:
    """One line for the user: file errors as `PATH: reason` rather than `[Errno N] reason: 'PATH'`."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        if isinstance(exc, FileExistsError):
            return f"{exc.filename}: exists and is not a directory"
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(prog="asicrc", description="Mining ASICs as a measured reservoir computer.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser, sub


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, sub = build_parser()
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv:  # a command is required: usage on stderr and a failing status, as argparse does for one missing
        parser.print_help(sys.stderr)
        print("asicrc: error: a COMMAND is required", file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    if argv[0] == "--version":
        from importlib.metadata import version

        print(version("asicrc"))
        return 0
    name = argv[0]
    if name not in COMMANDS:
        parser.print_usage(sys.stderr)
        print(f"asicrc: unknown command {name!r} (choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    module = COMMANDS[name][0]()
    cmd_parser = argparse.ArgumentParser(prog=f"asicrc {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    # commands that serve until stopped (run, sim, stratum serve) install their own asyncio handlers over this
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    logging.getLogger("asyncio").addFilter(_DROP_INTERRUPT_TRACEBACKS)  # stays: tasks may be collected later
    try:
        rc = int(module.run(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe (`| head`) surfaces here, not at interpreter exit
        return rc
    except BrokenPipeError:  # the reader went away: stop quietly, like any Unix filter
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Terminated:
        print(f"asicrc {name}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"asicrc {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # user-facing: one clear line, not a traceback
        if isinstance(exc, (UserError, ValueError, OSError)):
            print(f"asicrc {name}: error: {describe_error(exc)}", file=sys.stderr)
            return 1
        raise
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
