"""Seam to the per-model safety envelopes owned by drivers/ (the daemon defines no limits of its own).

Config validation needs the envelope of a model before any device exists, so this looks up the drivers'
declarative table. If drivers/ does not provide one for a model, setpoints for it are refused: the daemon
never guesses a limit.
"""

from __future__ import annotations

import importlib
from typing import Any

from asicrc.drivers.device import SafetyEnvelope


class NoEnvelope(ValueError):
    asicrc_user_error = True


# Where drivers/ may publish the table, most specific first.
_PROVIDERS = ("asicrc.drivers.models.data", "asicrc.drivers.models")


def _lookup(module: Any, model: str) -> SafetyEnvelope | None:
    fn = getattr(module, "envelope_for", None)
    if callable(fn):
        try:
            env = fn(model)
        except (KeyError, ValueError):
            env = None
        if isinstance(env, SafetyEnvelope):
            return env
    for table_name in ("MODELS", "ENVELOPES"):  # {model: ModelData(envelope=...)} or {model: SafetyEnvelope}
        table = getattr(module, table_name, None)
        if isinstance(table, dict) and model in table:
            entry = table[model]
            env = entry if isinstance(entry, SafetyEnvelope) else getattr(entry, "envelope", None)
            if isinstance(env, SafetyEnvelope):
                return env
    return None


def envelope_for(model: str) -> SafetyEnvelope:
    """The drivers' safety envelope for `model`; NoEnvelope if drivers/ defines none."""
    for name in _PROVIDERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        env = _lookup(module, model)
        if env is not None:
            return env
    raise NoEnvelope(f"no safety envelope is defined for model {model!r} in asicrc.drivers; "
                     "setpoints for it cannot be checked and are refused")
