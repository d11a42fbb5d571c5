"""Direct UART drivers for BM1366 and BM1387 chains (bench hashboards, Bitaxe-class boards, USB sticks).

All framing goes through the C codecs in asicrc.native; this package only sequences commands, keeps job
bookkeeping, verifies returned nonces (sha256d through the C core) and turns them into nonce Events.
`SerialLink` (one port, pyserial-asyncio-fast), `BM1366Ops`/`BM1387Ops` (what differs per chip),
`UartChain` (init, jobs, nonces, settings). The Device wrapper is asicrc.drivers.models.uart.UartChainDevice.
"""

from .chain import ChainStats, UartChain
from .chips import BM1366Ops, BM1387Ops, ChipOps, chip_ops
from .link import SerialError, SerialLink

__all__ = ["BM1366Ops", "BM1387Ops", "ChainStats", "ChipOps", "SerialError", "SerialLink", "UartChain", "chip_ops"]
