"""Antminer S9 over the network: bmminer 4028 RPC (read-only on stock firmware) + shares from our Stratum server."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ..api.bmminer_typed import decode_stats_summary
from ..api.cgminer import parse_stats, parse_summary, parse_version
from ..api.errors import ApiStatusError, MalformedReply
from ..api.rpc4028 import RpcClient, decode_reply
from ..events import Source
from .network import NetworkDevice

log = logging.getLogger(__name__)


class S9Device(NetworkDevice):
    source = Source.RPC

    def _rpc(self) -> RpcClient:
        return RpcClient(self.spec.host, self.spec.rpc_port_or(self.data.rpc_port), self.spec.timeout_s)

    async def _connect(self) -> None:
        version = parse_version(await self._rpc().command("version"))
        self.identity = replace(
            self.identity, firmware=version.firmware, extra={**self.identity.extra, "type": version.miner_type}
        )

    # bmminer (like cgminer) answers read-only commands joined with "+" in one reply: one connection per poll
    # instead of two. A firmware that refuses the joined form is asked separately from then on.
    _joined = True

    async def _poll(self) -> dict[str, Any]:
        rpc = self._rpc()
        if self._joined:
            try:
                raw = await rpc.raw("stats+summary")
                # the typed fast path (exported fields only); anything else, errors included, decodes generically
                fast = decode_stats_summary(raw)
                if fast is not None:
                    stats, summary = fast
                else:
                    both = decode_reply(raw, "stats+summary")
                    stats, summary = parse_stats(both), parse_summary(both)
            except (ApiStatusError, MalformedReply) as exc:
                self._joined = False
                log.info("%s: joined stats+summary refused (%s); asking separately", self.spec.device_id, exc)
        if not self._joined:
            stats = parse_stats(await rpc.command("stats"))
            summary = parse_summary(await rpc.command("summary"))
        tel = {k: v for k, v in stats.items() if k not in ("miner_type", "firmware", "chains")}
        tel.update(summary)  # GHS 5s from summary is the firmware's own headline hashrate
        chips = sum(stats.get("chips", [])) or self.data.chips
        if chips != self.identity.chips or (stats["firmware"] and not self.identity.firmware):
            self.identity = replace(self.identity, chips=chips, firmware=self.identity.firmware or stats["firmware"])
        return tel
