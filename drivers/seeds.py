"""Stable seeds from text: one derivation shared by the simulator (per-serial process variation, MACs) and the
experiments that seed sessions and devices from names (PUF). Python's hash() is salted per process; this is not."""

from __future__ import annotations

import hashlib


def stable_int(text: str) -> int:
    """A 64-bit integer derived from text (stable across runs and platforms, unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
