"""The per-model safety envelopes, as the drivers' model registry defines them (the daemon defines no limits).

Config validation needs the envelope of a model before any device exists, so it reads the registry's table. A model
without an entry has no envelope, and setpoints for it are refused: the daemon never guesses a limit.
"""

from __future__ import annotations

from asicrc.drivers.device import SafetyEnvelope
from asicrc.drivers.registry import MODELS
from asicrc.drivers.usererror import UserError


class NoEnvelope(UserError, ValueError):
    """No safety envelope for this device (one line for the CLI)."""


def envelope_for(model: str) -> SafetyEnvelope:
    """The drivers' safety envelope for `model`; NoEnvelope if the registry defines none."""
    data = MODELS.get(model)
    if data is None:
        raise NoEnvelope(f"no safety envelope is defined for model {model!r} in asicrc.drivers; "
                         "setpoints for it cannot be checked and are refused")
    return data.envelope
