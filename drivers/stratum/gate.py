"""The last word on a locally valid share before the miner hears "accepted": the seam the upstream proxy uses so
it never tells a miner a share was accepted when it cannot forward it.

A gate's ``admit(conn, record)`` is called for every share the pool judged valid, before the reply is sent:
- ``None``: accept now (the usual case);
- a :class:`Refusal`: reject now with that verdict and message (e.g. the upstream pool is down);
- an ``asyncio.Future`` resolving to ``None`` or a ``Refusal``: hold the reply until it resolves (e.g. the
  upstream pool's own verdict on a share that meets its difficulty). A future that fails becomes error 20 with
  the exception text.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .validate import Verdict

if TYPE_CHECKING:
    from .session import Connection, ShareRecord


@dataclass(frozen=True, slots=True)
class Refusal:
    verdict: Verdict
    message: str
    code: int | None = None  # the Stratum error code; None: the verdict's (validate.ERROR_CODES)


GateDecision = Refusal | asyncio.Future[Refusal | None] | None


class ShareGate(Protocol):
    def admit(self, conn: Connection, record: ShareRecord) -> GateDecision:
        """Decide (or defer) the reply to a share the pool found valid; see the module docstring."""
        ...
