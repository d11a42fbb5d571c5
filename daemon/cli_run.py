"""`asicrc run [--config PATH]`: the daemon. Without a config it runs the embedded simulated fleet."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import sys

from . import config as config_mod
from .logsetup import setup_logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="PATH", default=None,
                        help="TOML config (default: embedded simulated S9 + LV06 + LB-Box fleet)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default=None,
                        help="override [node] log_level")
    parser.add_argument("--check", action="store_true", help="validate the config and exit (0 = valid)")
    parser.add_argument("--print-allowlist", action="store_true",
                        help="print the systemd drop-in (IPAddressAllow=) this config needs and exit "
                             "(docs/install.md, Network allow-list)")
    parser.add_argument("--allow", action="append", default=[], metavar="ADDR",
                        help="with --print-allowlist: also allow this address or network (Prometheus server, "
                             "admin hosts); repeatable")


def run(args: argparse.Namespace) -> int:
    # Validate everything before anything starts: a bad config never yields a half-configured daemon.
    cfg = config_mod.load(args.config)
    if args.print_allowlist:
        from .allowlist import dropin

        print(dropin(cfg, args.config, args.allow), end="")
        return 0
    if args.check:
        enabled = sum(1 for d in cfg.devices if d.enabled)
        print(f"{args.config or '<embedded default config>'}: ok ({len(cfg.devices)} device(s), "
              f"node {cfg.node_id!r})")
        if not enabled:
            print(f"asicrc run: warning: {args.config or 'config'}: no enabled [[devices]]: the daemon would poll "
                  "nothing (see docs/real-devices.md for device tables)", file=sys.stderr)
        return 0
    setup_logging(args.log_level or cfg.node.log_level)
    faulthandler.enable()  # a watchdog SIGABRT then leaves every thread's traceback in the journal
    from .app import Daemon  # heavy imports only once the config is known to be good

    return asyncio.run(Daemon(cfg, args.config).run())
