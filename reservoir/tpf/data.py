"""Hash datasets for the early-round predictor: features from the k-round state, labels from the final hash.

Order matters and is enforced by construction: `HashSplit` computes the features first, from (header, nonces, k)
alone; the label is computed afterwards from the finished hash (or, for the toy power check, from the state after
`toy_rounds` total rounds). Nothing about the label is available when the features are computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from asicrc.native import hashing

from .native_features import state_matrix

# 2^32 hashes per unit of Bitcoin share difficulty: P(hash meets D) = 1 / (D * 2^32).
HASHES_PER_DIFF1 = float(1 << 32)
_IV7 = 0x5BE0CD19  # SHA-256 IV word 7: the second compression's feed-forward into digest word 7
WORD_SCALE = float(1 << 32)


def rate_to_difficulty(rate: float) -> float:
    """Share difficulty whose expected positive rate is `rate` (e.g. 1/256 -> 2^-24)."""
    if not 0 < rate < 1:
        raise ValueError(f"positive rate must be in (0, 1), got {rate!r}")
    return 1.0 / (rate * HASHES_PER_DIFF1)


def difficulty_to_rate(difficulty: float) -> float:
    if not difficulty > 0:
        raise ValueError(f"difficulty must be > 0, got {difficulty!r}")
    return min(1.0, 1.0 / (difficulty * HASHES_PER_DIFF1))


def random_header(rng: np.random.Generator) -> bytes:
    return rng.integers(0, 256, size=80, dtype=np.uint8).tobytes()


def state_features(states: npt.NDArray[np.uint32], kind: str = "words+bits") -> npt.NDArray[np.float32]:
    """Feature matrix from (n, 8) k-round states: words scaled to [0,1) and/or the 256 state bits."""
    if states.ndim != 2 or states.shape[1] != 8:
        raise ValueError(f"states must have shape (n, 8), got {states.shape}")
    if kind in ("words", "bits", "words+bits"):  # fused C expansion (tpf_features.c), ~2x numpy's
        return state_matrix(states, words=kind != "bits", bits=kind != "words")
    parts: list[npt.NDArray[np.float32]] = []
    if kind == "words+nibbles":  # compact form for tree models: words plus the 64 state nibbles
        # (not bytes: histogram boosting is an order of magnitude slower on 256-level columns, measured)
        raw = np.ascontiguousarray(states.astype("<u4")).view(np.uint8)
        parts.append((states.astype(np.float64) / WORD_SCALE).astype(np.float32))
        parts.append(np.hstack([raw & 15, raw >> 4]).astype(np.float32))
    if not parts:
        raise ValueError(f"unknown feature kind {kind!r} (words, bits, words+bits, words+nibbles)")
    return np.hstack(parts) if len(parts) > 1 else parts[0]


def final_labels(header: bytes, nonces: npt.NDArray[np.uint32], difficulty: float) -> npt.NDArray[np.bool_]:
    """Real label: the full sha256d hash meets the share target for `difficulty` (exact C check)."""
    target = hashing.difficulty_to_target(difficulty)
    return hashing.meets_target_batch(header, nonces, target, early_reject=True).ok


# The planted leak's bit: least significant bit of state word a (the first feature word's bit 0, feature "bit0").
PLANT_WORD, PLANT_BIT = 0, 0


def planted_bit(states: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """The state bit the planted leak is keyed on (see `plant_leak`)."""
    return ((states[:, PLANT_WORD] >> np.uint32(PLANT_BIT)) & np.uint32(1)).astype(bool)


def plant_leak(states: npt.NDArray[np.uint32], labels: npt.NDArray[np.bool_], delta: float, rate: float,
               rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """Positive control of the instrument: real sha256d labels with a graded leak planted by one state bit.

    P(share | bit = 1) = rate·(1 + delta) and P(share | bit = 0) = rate·(1 − delta): where the bit is 1, each
    negative is promoted with probability rate·delta/(1 − rate); where it is 0, each positive is dropped with
    probability delta. The overall rate stays `rate`; delta = 0 returns the real labels unchanged. One uniform
    draw per row, so planted label sets for different deltas are coupled (a larger delta only adds changes).
    The best any scorer can do is the bit itself: AUC = `planted_oracle_auc(delta, rate)`."""
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"planted leak delta must be in [0, 1], got {delta!r}")
    if not 0.0 < rate * (1.0 + delta) < 1.0:
        raise ValueError(f"planted leak needs rate·(1+delta) < 1, got rate {rate:g}, delta {delta:g}")
    y = np.asarray(labels, dtype=bool)
    bit = planted_bit(states)
    u = rng.random(y.size)
    promote = bit & ~y & (u < rate * delta / (1.0 - rate))
    drop = ~bit & y & (u < delta)
    out: npt.NDArray[np.bool_] = (y | promote) & ~drop
    return out


def planted_oracle_auc(delta: float, rate: float) -> float:
    """AUC of the planted bit as a score (the best possible AUC of the planted leak), with P(bit) = 1/2:
    0.5 + (P(bit | share) − P(bit | no share)) / 2 = 0.5 + delta / (4·(1 − rate))."""
    return 0.5 + delta / (4.0 * (1.0 - rate))


def toy_labels(header: bytes, nonces: npt.NDArray[np.uint32], toy_rounds: int, rate: float) -> npt.NDArray[np.bool_]:
    """Power-check label on a deliberately weak hash: SHA-256d whose second compression is cut to `toy_rounds`
    rounds (feed-forward kept). 'Meets target' uses the same convention as the real hash: the top 32 bits of the
    little-endian hash are byte-swapped digest word 7, compared with the threshold giving positive rate `rate`."""
    st = hashing.second_compression_states(header, nonces, toy_rounds)
    word7 = (st[:, 7].astype(np.uint64) + _IV7) & 0xFFFFFFFF
    top = word7.astype("<u4").byteswap()
    return top.astype(np.float64) < rate * WORD_SCALE


@dataclass(slots=True)
class HashSplit:
    """One split (train or test): a header and its nonces, k-round states, then labels."""

    header: bytes
    nonces: npt.NDArray[np.uint32]
    k: int
    states: npt.NDArray[np.uint32]
    labels: npt.NDArray[np.bool_]
    label_rounds: int  # rounds of the second compression the label depends on (64 = real hash)

    @classmethod
    def build(cls, header: bytes, nonces: npt.NDArray[np.uint32], k: int, difficulty: float,
              toy_rounds: int | None = None, plant: tuple[float, np.random.Generator] | None = None) -> HashSplit:
        """`plant` = (delta, rng) plants the graded one-bit leak (`plant_leak`) into the real labels."""
        if not 1 <= k <= 63:
            raise ValueError(f"k (feature rounds) must be in 1..63, got {k}")
        states = hashing.second_compression_states(header, nonces, k)  # features first ...
        if toy_rounds is None:
            labels = final_labels(header, nonces, difficulty)  # ... label after
            label_rounds = 64
            if plant is not None:
                labels = plant_leak(states, labels, plant[0], difficulty_to_rate(difficulty), plant[1])
        else:
            if plant is not None:
                raise ValueError("a planted leak applies to the real sha256d label, not to the toy hash")
            labels = toy_labels(header, nonces, toy_rounds, difficulty_to_rate(difficulty))
            label_rounds = toy_rounds
        return cls(header, nonces, k, states, labels, label_rounds)

    def ids(self) -> npt.NDArray[np.uint64]:
        """Identity of each row for disjointness checks: (hash of header) xor'ed into the high bits + nonce."""
        head = int.from_bytes(hashing.sha256(self.header)[:4], "little")
        return (np.uint64(head) << np.uint64(32)) | self.nonces.astype(np.uint64)
