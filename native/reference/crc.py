"""CRC5 and CRC-16/CCITT-FALSE, bit by bit, straight from their definitions."""

from __future__ import annotations


def crc5_bits(data: bytes, nbits: int) -> int:
    """CRC5: poly x^5+x^2+1 (0x05), init 0x1F, bits MSB-first, no reflection, no xor-out."""
    reg = 0x1F
    for i in range(nbits):
        bit = (data[i // 8] >> (7 - i % 8)) & 1
        feedback = ((reg >> 4) & 1) ^ bit
        reg = (reg << 1) & 0x1F
        if feedback:
            reg ^= 0x05
    return reg


def crc5(data: bytes) -> int:
    return crc5_bits(data, 8 * len(data))


def crc16_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, MSB-first, no xor-out."""
    reg = 0xFFFF
    for byte in data:
        for i in range(8):
            feedback = ((reg >> 15) & 1) ^ ((byte >> (7 - i)) & 1)
            reg = (reg << 1) & 0xFFFF
            if feedback:
                reg ^= 0x1021
    return reg
