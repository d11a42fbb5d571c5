"""The SHA-NI and scalar SHA-256 paths give identical results (ASICRC_NO_SHANI=1 forces the scalar one)."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = r"""
import hashlib, random, struct
import numpy as np
import asicrc.native as nat
rng = random.Random(11)
for n in (0, 1, 55, 56, 63, 64, 65, 80, 119, 200):
    d = rng.randbytes(n)
    assert nat.sha256(d) == hashlib.sha256(d).digest(), n
for trial in range(20):
    h = rng.randbytes(80)
    nonces = np.array([rng.getrandbits(32) for _ in range(200)], dtype=np.uint32)
    versions = np.array([0x20000000 | (rng.getrandbits(16) << 13) for _ in range(200)], dtype=np.uint32)
    _, hashes = nat.difficulty_batch(h, nonces, versions, return_hashes=True)
    ints = []
    for i in range(200):
        hdr = struct.pack("<I", int(versions[i])) + h[4:76] + struct.pack("<I", int(nonces[i]))
        ref = hashlib.sha256(hashlib.sha256(hdr).digest()).digest()
        assert bytes(hashes[i]) == ref, (trial, i)
        ints.append(int.from_bytes(ref, "little"))
    for t in (min(ints), min(ints) - 1, sorted(ints)[100], sorted(ints)[100] + 1):
        for early in (True, False):
            chk = nat.meets_target_batch(h, nonces, t, versions, early_reject=early)
            assert list(chk.ok) == [x <= t for x in ints]
    found, done = nat.search_nonces(h, 0, 3000, nat.difficulty_to_target(2**-28), max_found=3000)
    exp = [n for n in range(3000)
           if int.from_bytes(hashlib.sha256(hashlib.sha256(h[:76] + struct.pack("<I", n)).digest()).digest(), "little")
           <= nat.difficulty_to_target(2**-28)]
    assert list(found) == exp and done == 3000 and len(exp) > 50
print("ok")
"""


def run_check(no_shani: bool) -> None:
    env = dict(os.environ)
    env.pop("ASICRC_NO_SHANI", None)
    if no_shani:
        env["ASICRC_NO_SHANI"] = "1"
    proc = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_default_path_matches_hashlib() -> None:
    run_check(no_shani=False)


def test_scalar_path_matches_hashlib() -> None:
    run_check(no_shani=True)
