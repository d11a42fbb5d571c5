"""Pure-Python reference of the native core (slow, written to be obviously correct).

Used only by differential tests and as the baseline in bench/bench_native.py; production code uses
``asicrc.native``.
"""

from .codecs import ReferenceDecoder
from .crc import crc5, crc5_bits, crc16_false
from .sha256 import midstate, sha256, sha256d

__all__ = ["ReferenceDecoder", "crc5", "crc5_bits", "crc16_false", "midstate", "sha256", "sha256d"]
