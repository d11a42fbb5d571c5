"""Per-model devices and the factory the daemon uses.

Usage (daemon, reservoir, tests)::

    from asicrc.drivers.models import DeviceSpec, create_device, envelope_for

    spec = DeviceSpec(model="lv06", device_id="lv06-a", host="127.0.0.1", http_port=8080)
    # or DeviceSpec.from_mapping({"model": "s9", "device_id": "s9-1", "port": 4028}, where="devices[0]")
    dev = create_device(spec, fanout=fanout, clock=clock, stratum_server=server)
    await dev.start()                      # first contact; never raises for an absent device (it keeps retrying)
    async for ev in dev.events(): ...      # this device's telemetry/fault/state + its Stratum shares (by worker)
    await dev.set_frequency(500)           # EnvelopeViolation (ValueError) / ActuationUnsupported: nothing sent
    await dev.stop()

Models: "s9" (4028 RPC + Stratum), "lv06" (AxeOS HTTP + Stratum), "lbbox" (Goldshell HTTP + 4028 + LBRY Stratum),
"bm1366-uart" / "bm1387-uart" (direct serial chains; `serial_port` required).
The models and their data are the registry's (asicrc.drivers.registry). `DeviceSpec` fields: see
asicrc.drivers.models.device_spec (port = the model's primary port: HTTP for lv06/lbbox, RPC for
s9). Network devices' shares are the Stratum server's share Events whose `worker` is `spec.worker` (default: the
device id), re-labelled with the device id in `events()`. `envelope_for(model)` / `ENVELOPES` give the per-model
SafetyEnvelope without creating a device (config validation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..clock import Clock
from ..device import Device, SafetyEnvelope
from ..events import FanOut
from ..pacer import PollPacer
from ..registry import MODELS, ModelData, UnknownModel
from ..stratum.router import ShareRouter
from .base import BaseDevice
from .device_spec import DeviceSpec, SpecError

ENVELOPES: dict[str, SafetyEnvelope] = {name: data.envelope for name, data in MODELS.items()}


def envelope_for(model: str) -> SafetyEnvelope:
    try:
        return ENVELOPES[model]
    except KeyError:
        raise KeyError(f"unknown model {model!r} (choose from {', '.join(ENVELOPES)})") from None


def model_data(model: str) -> ModelData:
    try:
        return MODELS[model]
    except KeyError:
        raise SpecError(f"unknown model {model!r} (choose from {', '.join(MODELS)})") from None


def create_device(
    spec: DeviceSpec | Mapping[str, Any], *, fanout: FanOut, clock: Clock, stratum_server: ShareRouter | None = None,
    pacer: PollPacer | None = None,
) -> Device:
    """A Device for `spec` (not started). Bad specs raise SpecError (a ValueError) naming the key."""
    if not isinstance(spec, DeviceSpec):
        spec = DeviceSpec.from_mapping(spec)
    else:
        spec.validate()
    data = model_data(spec.model)
    device = data.make_driver(spec, data, fanout, clock, stratum_server)
    # a fleet's network devices share one pacer (staggered polls, bounded connections); a UART chain has its own
    # serial port and nothing to pace
    if pacer is not None and data.link == "network" and isinstance(device, BaseDevice):
        device.pacer = pacer
    return device


__all__ = ["ENVELOPES", "DeviceSpec", "SpecError", "UnknownModel", "create_device", "envelope_for", "model_data"]
