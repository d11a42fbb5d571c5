"""Enrolments on disk: one JSON file per device, written atomically, so identities survive daemon restarts.

An enrolment keeps every enrolment session's signature (not only their mean): the verifier estimates the
within-device noise scale from them, and a later re-analysis can recompute everything from the files.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from asicrc.drivers.atomicfile import atomic_write_json

from .challenge import Challenge
from .signature import Signature

FORMAT = 1
DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Enrolment:
    device_id: str
    model: str
    serial: str
    challenge: Challenge
    sessions: list[Signature]
    ambient_c: list[float] = field(default_factory=list)
    enrolled_unix: float = 0.0

    @property
    def matrix(self) -> npt.NDArray[np.float64]:
        return np.array([s.values for s in self.sessions], dtype=np.float64)

    @property
    def template(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.matrix.mean(axis=0), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "device_id": self.device_id, "model": self.model, "serial": self.serial,
                "challenge": self.challenge.to_dict(), "challenge_digest": self.challenge.digest,
                "ambient_c": list(self.ambient_c), "enrolled_unix": self.enrolled_unix,
                "sessions": [s.to_dict() for s in self.sessions]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Enrolment:
        try:
            if d.get("format") != FORMAT:
                raise ValueError(f"unsupported format {d.get('format')!r}")
            challenge = Challenge.from_dict(d["challenge"])
            if challenge.digest != d["challenge_digest"]:
                raise ValueError("challenge does not match its stored digest (file edited?)")
            sessions = [Signature.from_dict(s) for s in d["sessions"]]
            return cls(str(d["device_id"]), str(d["model"]), str(d["serial"]), challenge, sessions,
                       [float(a) for a in d.get("ambient_c", [])], float(d.get("enrolled_unix", 0.0)))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed enrolment: missing or bad field {exc}") from None


class EnrolmentStore:
    """A directory of enrolments (``<device_id>.json``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _file(self, device_id: str) -> Path:
        if not DEVICE_ID.match(device_id):
            raise ValueError(f"device id must match [A-Za-z0-9_-]{{1,64}}, got {device_id!r}")
        return self.path / f"{device_id}.json"

    def save(self, enrolment: Enrolment) -> Path:
        if not enrolment.sessions:
            raise ValueError("an enrolment needs at least one session")
        digests = {s.challenge_digest for s in enrolment.sessions}
        if digests != {enrolment.challenge.digest}:
            raise ValueError("every enrolment session must be measured under the enrolment's challenge")
        self.path.mkdir(parents=True, exist_ok=True)
        target = self._file(enrolment.device_id)
        if not enrolment.enrolled_unix:
            enrolment.enrolled_unix = time.time()
        # atomic (drivers/atomicfile): a crash leaves the old file or the new one, never half of one
        atomic_write_json(target, enrolment.to_dict(), indent=1, sort_keys=True)
        return target

    def load(self, device_id: str) -> Enrolment:
        f = self._file(device_id)
        if not f.exists():
            raise ValueError(f"no enrolment for {device_id!r} in {self.path}")
        return self._read(f)

    def _read(self, f: Path) -> Enrolment:
        try:
            data = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{f}: not valid JSON ({exc})") from None
        try:
            return Enrolment.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{f}: {exc}") from None

    def load_all(self, model: str | None = None) -> list[Enrolment]:
        if not self.path.is_dir():
            return []
        out = [self._read(f) for f in sorted(self.path.glob("*.json"))]
        return [e for e in out if model is None or e.model == model]
