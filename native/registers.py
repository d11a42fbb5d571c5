"""Register values and command sequences for BM1366 and BM1387 chips (framed by ``asicrc.native.codecs``).

Sources of each rule are in docs/native.md (ESP-Miner for BM1366; bmminer / cgminer-gekko / braiins for BM1387).
These helpers only build bytes; anything that changes a real device's frequency goes through the model's
safety envelope (``asicrc.drivers.device``) before these bytes are sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import codecs
from .codecs import FrameError

REF_CLOCK_MHZ = 25.0

# BM1366 registers (ESP-Miner bm1366.c)
BM1366_REG_PLL = 0x08
BM1366_REG_HASH_COUNTING = 0x10
BM1366_REG_TICKET_MASK = 0x14
BM1366_REG_UART_BAUD = 0x28
BM1366_REG_VERSION_MASK = 0xA4
BM1366_CHIP_ID = 0x1366
BM1366_CORES = 112
BM1366_UART_1MBAUD = 0x11300200

# BM1387 registers (braiins bm1387.rs / bmminer driver-btm-c5.h)
BM1387_REG_PLL = 0x0C
BM1387_REG_TICKET_MASK = 0x18
BM1387_REG_MISC_CONTROL = 0x1C
BM1387_MISC_S9 = 0x40209A80  # stock S9 value: baud divider 26 in bits 12:8, not_set_baud (bit 30) set
BM1387_MISC_BAUD = 0x00200000  # cgminer-gekko's baud write: inv_clock (bit 21), not_set_baud clear, divider in 12:8
BM1387_NOT_SET_BAUD = 1 << 30  # braiins: with this bit set the chips ignore the divider of the write
BM1387_CHIP_ID = 0x1387


def _bitrev8(b: int) -> int:
    return int(f"{b:08b}"[::-1], 2)


def ticket_mask(difficulty: float) -> int:
    """Ticket-mask register value for a chip-side difficulty: m = (largest power of 2 <= ceil(d)) - 1, each byte
    bit-reversed, big-endian (ESP-Miner ``get_difficulty_mask``; equals braiins' (d-1) rule for powers of 2)."""
    if not isinstance(difficulty, (int, float)) or not math.isfinite(difficulty) or difficulty < 1:
        raise FrameError(f"ticket difficulty must be a finite number >= 1, got {difficulty!r}")
    d = math.ceil(difficulty)
    if d > 1 << 32:
        raise FrameError(f"ticket difficulty must be <= 2**32, got {difficulty!r}")
    m = (1 << (d.bit_length() - 1)) - 1
    return int.from_bytes(bytes(_bitrev8(b) for b in m.to_bytes(4, "big")), "big")


def bm1366_ticket_mask_frame(difficulty: float) -> bytes:
    return codecs.bm1366_write_reg(BM1366_REG_TICKET_MASK, ticket_mask(difficulty))


def bm1387_ticket_mask_frame(difficulty: float) -> bytes:
    return codecs.bm1387_write_reg(BM1387_REG_TICKET_MASK, ticket_mask(difficulty))


@dataclass(frozen=True, slots=True)
class Pll:
    fb_div: int
    ref_div: int
    post_div1: int
    post_div2: int
    freq_mhz: float  # the frequency these dividers actually give

    @property
    def vco_mhz(self) -> float:
        return REF_CLOCK_MHZ * self.fb_div / self.ref_div


def _check_freq(freq_mhz: float, low: float, high: float) -> float:
    if not isinstance(freq_mhz, (int, float)) or not math.isfinite(freq_mhz) or not low <= freq_mhz <= high:
        raise FrameError(f"frequency must be {low:g}..{high:g} MHz, got {freq_mhz!r}")
    return float(freq_mhz)


def bm1366_pll(freq_mhz: float) -> Pll:
    """ESP-Miner's divider search: refdiv in {2, 1}, post_div1 > post_div2 in 7..1, fb_div in [144, 235];
    prefer the closest frequency, then the lowest VCO, then the lowest post_div1*post_div2."""
    f = _check_freq(freq_mhz, 50.0, 1200.0)
    best: tuple[tuple[float, float, int], Pll] | None = None
    for ref in (2, 1):
        for p1 in range(7, 0, -1):
            for p2 in range(p1 - 1, 0, -1):
                fb = round(f / REF_CLOCK_MHZ * ref * p1 * p2)
                if not 144 <= fb <= 235:
                    continue
                actual = REF_CLOCK_MHZ * fb / (ref * p1 * p2)
                key = (abs(actual - f), REF_CLOCK_MHZ * fb / ref, p1 * p2)
                if best is None or key < best[0]:
                    best = (key, Pll(fb, ref, p1, p2, actual))
    if best is None:
        raise FrameError(f"no BM1366 PLL dividers reach {freq_mhz} MHz")
    return best[1]


def bm1366_pll_value(pll: Pll) -> int:
    vdo = 0x50 if pll.vco_mhz >= 2400 else 0x40
    post = ((pll.post_div1 - 1) << 4) | (pll.post_div2 - 1)
    return (vdo << 24) | (pll.fb_div << 16) | (pll.ref_div << 8) | post


def bm1366_pll_frame(freq_mhz: float) -> bytes:
    return codecs.bm1366_write_reg(BM1366_REG_PLL, bm1366_pll_value(bm1366_pll(freq_mhz)))


def bm1387_pll(freq_mhz: float) -> Pll:
    """cgminer-gekko's BM1387 rule: refdiv 2; below 400 MHz fb = f*8/25 with postdivs 4/1, else fb = f*4/25
    with postdivs 2/1 (fb truncated)."""
    f = _check_freq(freq_mhz, 100.0, 1200.0)
    p1 = 4 if f < 400 else 2
    fb = int(f * 2 * p1 / REF_CLOCK_MHZ)
    return Pll(fb, 2, p1, 1, REF_CLOCK_MHZ * fb / (2 * p1))


def bm1387_pll_value(pll: Pll) -> int:
    return (pll.fb_div << 16) | (pll.ref_div << 8) | (pll.post_div1 << 4) | pll.post_div2


def bm1387_pll_frame(freq_mhz: float, chip_addr: int | None = None) -> bytes:
    return codecs.bm1387_write_reg(BM1387_REG_PLL, bm1387_pll_value(bm1387_pll(freq_mhz)), chip_addr)


def bm1366_hash_counting(chip_count: int, freq_mhz: float) -> int:
    """Reg 0x10 value (``BM1366_set_nonce_space``)."""
    if chip_count < 1:
        raise FrameError(f"chip_count must be >= 1, got {chip_count}")
    f = _check_freq(freq_mhz, 50.0, 1200.0)
    cores = 1 << (BM1366_CORES - 1).bit_length()
    chips = 1 << (chip_count - 1).bit_length()
    return int((2**32 / cores / chips) * REF_CLOCK_MHZ / f * 0.5)


def bm1366_baud_frame(baud: int) -> bytes:
    """Only the 1 Mbaud switch ESP-Miner uses is documented for BM1366 (reg 0x28 <- 0x11300200)."""
    if baud != 1_000_000:
        raise FrameError(f"BM1366 baud register is only known for 1000000 baud, got {baud!r}")
    return codecs.bm1366_write_reg(BM1366_REG_UART_BAUD, BM1366_UART_1MBAUD)


def bm1387_baud_divider(baud: int) -> int:
    """MISC_CONTROL bits 12:8: baud = 25 MHz / 8 / (div + 1), div 0..26."""
    if not isinstance(baud, int) or baud <= 0:
        raise FrameError(f"baud must be a positive integer, got {baud!r}")
    div = round(REF_CLOCK_MHZ * 1e6 / 8 / baud) - 1
    if not 0 <= div <= 26:
        raise FrameError(f"BM1387 cannot run at {baud} baud (range 115741..3125000)")
    return div


def bm1387_baud_value(baud: int) -> int:
    """MISC_CONTROL value that switches the chips' UART, as cgminer-gekko writes it (``58 09 00 1C 00 20 div 00``):
    bit 30 (not_set_baud) clear, as bmminer's ``set_baud`` also writes it (braiins found the divider must hold the
    right speed even in words with not_set_baud set, so those carry the divider in force)."""
    return BM1387_MISC_BAUD | (bm1387_baud_divider(baud) << 8)


def bm1387_baud_frame(baud: int) -> bytes:
    return codecs.bm1387_write_reg(BM1387_REG_MISC_CONTROL, bm1387_baud_value(baud))


def address_interval(chip_count: int) -> int:
    """ESP-Miner's address step: 256 / chips."""
    if not 1 <= chip_count <= 256:
        raise FrameError(f"chip_count must be 1..256, got {chip_count}")
    return 256 // chip_count


def bm1366_address_sequence(chip_count: int) -> list[bytes]:
    """Chain inactive, then one set-address per chip at i * (256 / chips)."""
    step = address_interval(chip_count)
    return [codecs.bm1366_chain_inactive()] + [codecs.bm1366_set_address(i * step) for i in range(chip_count)]


def bm1387_address_sequence(chip_count: int, interval: int = 4) -> list[bytes]:
    """Chain inactive, then set-address per chip stepping by ``interval`` (4 on an S9 chain)."""
    if not 1 <= chip_count <= 256 or not 1 <= interval or chip_count * interval > 256:
        raise FrameError(f"{chip_count} chips at interval {interval} do not fit 256 addresses")
    return [codecs.bm1387_chain_inactive()] + [codecs.bm1387_set_address(i * interval) for i in range(chip_count)]


def bm1366_enumerate_frame() -> bytes:
    """Read register 0 (chip id) from all chips; each chip answers ``AA 55 13 66 ...``."""
    return codecs.bm1366_read_reg(0)


def bm1387_enumerate_frame() -> bytes:
    return codecs.bm1387_read_reg(0)


def bm1366_version_mask_frame(mask: int = 0x1FFFE000) -> bytes:
    return codecs.bm1366_write_reg(BM1366_REG_VERSION_MASK, 0x90000000 | ((mask >> 13) & 0xFFFF))


@dataclass(frozen=True, slots=True)
class InitStep:
    name: str
    frame: bytes


def bm1366_init_sequence(chip_count: int = 1, freq_mhz: float = 485.0, difficulty: float = 256) -> list[InitStep]:
    """The BM1366 bring-up in ESP-Miner's order (protocols.md §1.5), without the waits: after ``read_chip_id``
    the host counts replies; after ``baud`` it switches its UART to 1 Mbaud. ESP-Miner steps the PLL up
    gradually and writes regs 0x54/0x58, whose values are not in our sources: here the PLL goes straight to
    the target and 0x54/0x58 are left at their reset values."""
    steps = [InitStep("version_mask", bm1366_version_mask_frame()) for _ in range(3)]
    steps.append(InitStep("read_chip_id", bm1366_enumerate_frame()))
    steps.append(InitStep("init_a8", codecs.bm1366_write_reg(0xA8, 0x00070000)))
    steps.append(InitStep("init_18", codecs.bm1366_write_reg(0x18, 0xFF0FC100)))
    seq = bm1366_address_sequence(chip_count)
    steps.append(InitStep("chain_inactive", seq[0]))
    steps += [InitStep(f"set_address_{i}", frame) for i, frame in enumerate(seq[1:])]
    steps.append(InitStep("init_3c_a", codecs.bm1366_write_reg(0x3C, 0x80008540)))
    steps.append(InitStep("init_3c_b", codecs.bm1366_write_reg(0x3C, 0x80008020)))
    steps.append(InitStep("ticket_mask", bm1366_ticket_mask_frame(difficulty)))
    steps.append(InitStep("init_2c", codecs.bm1366_write_reg(0x2C, 0x007C0003, chip_addr=0)))
    step = address_interval(chip_count)
    for i in range(chip_count):
        a = i * step
        steps.append(InitStep(f"chip{i}_a8", codecs.bm1366_write_reg(0xA8, 0x000701F0, chip_addr=a)))
        steps.append(InitStep(f"chip{i}_18", codecs.bm1366_write_reg(0x18, 0xF000C100, chip_addr=a)))
        for j, v in enumerate((0x80008540, 0x80008020, 0x800082AA)):
            steps.append(InitStep(f"chip{i}_3c_{j}", codecs.bm1366_write_reg(0x3C, v, chip_addr=a)))
    steps.append(InitStep("pll", bm1366_pll_frame(freq_mhz)))
    steps.append(InitStep("hash_counting",
                          codecs.bm1366_write_reg(BM1366_REG_HASH_COUNTING, bm1366_hash_counting(chip_count, freq_mhz))))
    steps.append(InitStep("version_mask", bm1366_version_mask_frame()))
    steps.append(InitStep("baud", bm1366_baud_frame(1_000_000)))
    return steps
