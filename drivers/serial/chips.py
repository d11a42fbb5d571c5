"""What differs between BM1366 and BM1387 chains, as data and one-line frame builders over asicrc.native.

BM1366 (ESP-Miner): `55 AA` framed commands, 82-byte full-header jobs (the chip rolls version bits 13-28), job ids
0, 8, ..., 120, chip-id 0x1366, init then 1 Mbaud. BM1387 (cgminer-gekko / braiins): preamble-less commands,
midstate work (one midstate here), job ids 1..127, chip-id 0x1387, stays at 115200 baud (the baud register is
documented, but USB sticks' bridges vary, so the switch is opt-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...native import codecs, registers


@dataclass(frozen=True, slots=True)
class ChipOps:
    name: ClassVar[str]
    chip_id: ClassVar[int]
    boot_baud: ClassVar[int] = 115_200
    job_id_step: ClassVar[int]
    job_id_first: ClassVar[int]
    cores_per_chip: ClassVar[int]
    ramp_from_mhz: ClassVar[float | None] = None  # bring the PLL up in small steps from here (None: one write)
    ramp_step_mhz: ClassVar[float] = 6.25
    fast_baud: int | None = None

    def decoder(self, chips: int) -> codecs._StreamDecoder:
        raise NotImplementedError

    def next_job_id(self, previous: int | None) -> int:
        if previous is None:
            return self.job_id_first
        nxt = (previous + self.job_id_step) % 128
        return nxt if nxt >= self.job_id_first else self.job_id_first

    def pre_enumerate(self) -> list[bytes]:
        return []

    def enumerate_frame(self) -> bytes:
        raise NotImplementedError

    def init_frames(self, chips: int, freq_mhz: float, difficulty: float) -> list[bytes]:
        """Everything after enumeration up to (not including) a baud switch."""
        raise NotImplementedError

    def baud_frames(self) -> list[bytes]:
        return []

    def pll_frames(self, chips: int, freq_mhz: float) -> list[bytes]:
        raise NotImplementedError

    def ticket_frame(self, difficulty: float) -> bytes:
        raise NotImplementedError

    def job_frame(self, header: bytes, job_id: int) -> bytes:
        raise NotImplementedError

    def chip_index(self, raw_chip: np.ndarray, chips: int) -> np.ndarray:
        """Chain position of the chip that found each nonce, from the decoder's chip field."""
        return np.minimum(raw_chip.astype(np.int64), chips - 1)

    def job_versions(self, header: bytes) -> int:
        """The version the chip starts from (BM1366 ORs its rolled bits into it)."""
        return int.from_bytes(header[:4], "little")


@dataclass(frozen=True, slots=True)
class BM1366Ops(ChipOps):
    name: ClassVar[str] = "bm1366"
    chip_id: ClassVar[int] = registers.BM1366_CHIP_ID
    job_id_step: ClassVar[int] = 8
    job_id_first: ClassVar[int] = 0
    cores_per_chip: ClassVar[int] = registers.BM1366_CORES
    ramp_from_mhz: ClassVar[float | None] = 100.0  # ESP-Miner's do_frequency_transition steps 6.25 MHz at a time
    fast_baud: int | None = 1_000_000

    def decoder(self, chips: int) -> codecs._StreamDecoder:
        return codecs.BM1366Decoder(address_interval=registers.address_interval(chips))

    def pre_enumerate(self) -> list[bytes]:
        return [registers.bm1366_version_mask_frame() for _ in range(3)]

    def enumerate_frame(self) -> bytes:
        return registers.bm1366_enumerate_frame()

    def init_frames(self, chips: int, freq_mhz: float, difficulty: float) -> list[bytes]:
        steps = registers.bm1366_init_sequence(chips, freq_mhz, difficulty)
        start = next(i for i, s in enumerate(steps) if s.name == "read_chip_id") + 1
        # the PLL is ramped separately (UartChain.init), the baud switch comes last
        return [s.frame for s in steps[start:] if s.name not in ("baud", "pll", "hash_counting")]

    def baud_frames(self) -> list[bytes]:
        return [registers.bm1366_baud_frame(1_000_000)] if self.fast_baud == 1_000_000 else []

    def pll_frames(self, chips: int, freq_mhz: float) -> list[bytes]:
        return [registers.bm1366_pll_frame(freq_mhz),
                codecs.bm1366_write_reg(registers.BM1366_REG_HASH_COUNTING,
                                        registers.bm1366_hash_counting(chips, freq_mhz))]

    def ticket_frame(self, difficulty: float) -> bytes:
        return registers.bm1366_ticket_mask_frame(difficulty)

    def job_frame(self, header: bytes, job_id: int) -> bytes:
        return codecs.bm1366_job(header, job_id)


@dataclass(frozen=True, slots=True)
class BM1387Ops(ChipOps):
    name: ClassVar[str] = "bm1387"
    chip_id: ClassVar[int] = registers.BM1387_CHIP_ID
    job_id_step: ClassVar[int] = 1
    job_id_first: ClassVar[int] = 1
    cores_per_chip: ClassVar[int] = 114
    fast_baud: int | None = None

    def decoder(self, chips: int) -> codecs._StreamDecoder:
        return codecs.BM1387Decoder(address_interval=registers.address_interval(chips))

    def enumerate_frame(self) -> bytes:
        return registers.bm1387_enumerate_frame()

    def init_frames(self, chips: int, freq_mhz: float, difficulty: float) -> list[bytes]:
        frames = registers.bm1387_address_sequence(chips, registers.address_interval(chips))
        frames.append(registers.bm1387_ticket_mask_frame(difficulty))
        frames += self.pll_frames(chips, freq_mhz)
        return frames

    def baud_frames(self) -> list[bytes]:
        return [registers.bm1387_baud_frame(self.fast_baud)] if self.fast_baud else []

    def pll_frames(self, chips: int, freq_mhz: float) -> list[bytes]:
        return [registers.bm1387_pll_frame(freq_mhz)]

    def ticket_frame(self, difficulty: float) -> bytes:
        return registers.bm1387_ticket_mask_frame(difficulty)

    def job_frame(self, header: bytes, job_id: int) -> bytes:
        return codecs.bm1387_work(header, job_id)


def chip_ops(model: str, fast_baud: int | None = None) -> ChipOps:
    """"bm1366-uart" / "bm1387-uart" -> the chip's ops; fast_baud overrides the post-init baud (None: default)."""
    if model == "bm1366-uart":
        return BM1366Ops() if fast_baud is None else BM1366Ops(fast_baud=fast_baud)
    if model == "bm1387-uart":
        return BM1387Ops() if fast_baud is None else BM1387Ops(fast_baud=fast_baud)
    raise ValueError(f"no UART chip for model {model!r}")
