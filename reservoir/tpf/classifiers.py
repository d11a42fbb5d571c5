"""The three scikit-learn classifiers of the predictor experiment, trained from k-round states in chunks.

Features are expanded per chunk from the compact (n, 8) uint32 states, so 1e6+ training hashes never need a
1e6 x 264 float matrix in memory. Positives are rare (1/256 .. 1/65536), so each training chunk repeats its
positives up to a 1:3 ratio (training data only; test data are never touched).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import SGDClassifier
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from .data import state_features

CHUNK = 1 << 17
CLASSIFIERS = ("logreg", "hgb", "mlp")


class StateModel(Protocol):
    name: str

    def fit(self, states: npt.NDArray[np.uint32], labels: npt.NDArray[np.bool_], seed: int) -> None: ...

    def score(self, states: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]: ...


def _balanced_chunks(states: npt.NDArray[np.uint32], labels: npt.NDArray[np.bool_], rng: np.random.Generator,
                     kind: str) -> Iterator[tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]]:
    order = rng.permutation(states.shape[0])
    for lo in range(0, order.size, CHUNK):
        idx = order[lo:lo + CHUNK]
        y = labels[idx]
        pos = idx[y]
        if 0 < pos.size:
            reps = int(min(64, max(1, (idx.size - pos.size) // (3 * pos.size))))
            idx = np.concatenate([idx, np.repeat(pos, reps - 1)])
            y = labels[idx]
        yield state_features(states[idx], kind), y


@dataclass
class ChunkedModel:
    """Logistic regression (SGD, log loss) or small MLP, trained by partial_fit over balanced chunks."""

    name: str
    epochs: int = 2
    kind: str = "words+bits"
    est: Any = None

    def _make(self, seed: int) -> Any:
        if self.name == "logreg":
            return SGDClassifier(loss="log_loss", alpha=1e-5, learning_rate="optimal", random_state=seed)
        return MLPClassifier(hidden_layer_sizes=(32, 16), batch_size=1024, learning_rate_init=1e-3,
                             random_state=seed)

    def fit(self, states: npt.NDArray[np.uint32], labels: npt.NDArray[np.bool_], seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.est = self._make(seed)
        for _ in range(self.epochs):
            for X, y in _balanced_chunks(states, labels, rng, self.kind):
                self.est.partial_fit(X, y, classes=np.array([False, True]))

    def score(self, states: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
        out = np.empty(states.shape[0], dtype=np.float64)
        for lo in range(0, states.shape[0], CHUNK):
            X = state_features(states[lo:lo + CHUNK], self.kind)
            out[lo:lo + CHUNK] = self.est.predict_proba(X)[:, 1]
        return out


@dataclass
class BoostedModel:
    """Histogram gradient boosting on words + the 64 state nibbles (trees isolate any bit within 4 splits)."""

    name: str = "hgb"
    max_iter: int = 100
    kind: str = "words+nibbles"
    est: Any = None

    def fit(self, states: npt.NDArray[np.uint32], labels: npt.NDArray[np.bool_], seed: int) -> None:
        self.est = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=31,
                                                  class_weight="balanced", early_stopping=False,
                                                  random_state=seed)
        # one OpenMP thread: on a shared, oversubscribed machine sklearn's spinning OpenMP pool ran 5-10x
        # slower than a single thread (measured), and one thread keeps runs reproducible in time
        with threadpool_limits(1):
            self.est.fit(state_features(states, self.kind), labels)

    def score(self, states: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
        out = np.empty(states.shape[0], dtype=np.float64)
        with threadpool_limits(1):
            for lo in range(0, states.shape[0], CHUNK):
                out[lo:lo + CHUNK] = self.est.predict_proba(state_features(states[lo:lo + CHUNK], self.kind))[:, 1]
        return out


def make_model(name: str, effort: float = 1.0) -> StateModel:
    """`effort` scales training passes (tests use < 1 for speed; reports record it)."""
    if name == "logreg":
        return ChunkedModel("logreg", epochs=max(1, round(2 * effort)))
    if name == "mlp":
        return ChunkedModel("mlp", epochs=max(1, round(2 * effort)))
    if name == "hgb":
        return BoostedModel(max_iter=max(10, round(100 * effort)))
    raise ValueError(f"unknown classifier {name!r} (choose from {', '.join(CLASSIFIERS)})")
