"""Fault injection for simulated devices: ``dev.inject(Fault.http_500(count=3))``.

Physical faults (ambient step, fan death, chip or chain death) change the physics at once. Transport faults are armed and
consumed by the next `count` requests/frames of the transport they concern:
- ``tcp_disconnect``: the Stratum connection is dropped now (the client reconnects like the firmware does);
- ``rpc_disconnect``: the next 4028 requests are closed without a reply;
- ``http_500`` / ``http_timeout``: the next HTTP requests answer 500 / hang for ``value`` seconds (wall) first;
- ``serial_garbage`` / ``serial_drop``: the next reply frames on a serial chain get ``value`` random bytes
  inserted before them / lose ``value`` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    TCP_DISCONNECT = "tcp_disconnect"
    RPC_DISCONNECT = "rpc_disconnect"
    HTTP_500 = "http_500"
    HTTP_TIMEOUT = "http_timeout"
    AMBIENT = "ambient"
    CHIP_DEATH = "chip_death"
    CHAIN_DEATH = "chain_death"
    FAN_DEATH = "fan_death"
    SERIAL_GARBAGE = "serial_garbage"
    SERIAL_DROP = "serial_drop"


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    count: int = 1  # requests / frames affected (transport faults)
    value: float = 0.0  # degC (ambient), seconds (http_timeout), bytes (serial faults)
    target: int = 0  # chip or chain index (deaths)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"fault count must be >= 1, got {self.count}")

    @classmethod
    def tcp_disconnect(cls) -> Fault:
        return cls(FaultKind.TCP_DISCONNECT)

    @classmethod
    def rpc_disconnect(cls, count: int = 1) -> Fault:
        return cls(FaultKind.RPC_DISCONNECT, count)

    @classmethod
    def http_500(cls, count: int = 1) -> Fault:
        return cls(FaultKind.HTTP_500, count)

    @classmethod
    def http_timeout(cls, count: int = 1, seconds: float = 30.0) -> Fault:
        return cls(FaultKind.HTTP_TIMEOUT, count, seconds)

    @classmethod
    def ambient(cls, celsius: float) -> Fault:
        return cls(FaultKind.AMBIENT, 1, celsius)

    @classmethod
    def chip_death(cls, chip: int) -> Fault:
        return cls(FaultKind.CHIP_DEATH, 1, 0.0, chip)

    @classmethod
    def chain_death(cls, chain: int) -> Fault:
        return cls(FaultKind.CHAIN_DEATH, 1, 0.0, chain)

    @classmethod
    def fan_death(cls) -> Fault:
        """Every fan stops (the controller keeps asking; only natural convection is left)."""
        return cls(FaultKind.FAN_DEATH)

    @classmethod
    def serial_garbage(cls, nbytes: int = 16, count: int = 1) -> Fault:
        return cls(FaultKind.SERIAL_GARBAGE, count, float(nbytes))

    @classmethod
    def serial_drop(cls, nbytes: int = 1, count: int = 1) -> Fault:
        return cls(FaultKind.SERIAL_DROP, count, float(nbytes))


class FaultState:
    """Armed transport faults and their remaining counts."""

    def __init__(self) -> None:
        self._armed: dict[FaultKind, list[Fault]] = {}
        self.fired: dict[str, int] = {}

    def arm(self, fault: Fault) -> None:
        self._armed.setdefault(fault.kind, []).extend([fault] * fault.count)

    def take(self, kind: FaultKind) -> Fault | None:
        """Consume one armed fault of this kind (None when none is armed)."""
        queue = self._armed.get(kind)
        if not queue:
            return None
        self.fired[kind.value] = self.fired.get(kind.value, 0) + 1
        return queue.pop(0)

    def armed(self, kind: FaultKind) -> int:
        return len(self._armed.get(kind, ()))
