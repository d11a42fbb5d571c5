"""The model registry (asicrc.drivers.registry) is the one model list: every other table is derived from it and
agrees with it. The consistency check runs on the real registry and on a planted inconsistent entry (it must
flag that one), so it cannot pass by checking nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import get_args, get_type_hints

import pytest

from asicrc.daemon import config as daemon_config
from asicrc.drivers import registry
from asicrc.drivers.clock import Clock
from asicrc.drivers.device import Device
from asicrc.drivers.events import FanOut
from asicrc.drivers.models import ENVELOPES, DeviceSpec, SpecError, create_device
from asicrc.drivers.registry import MODELS, ModelData, ModelName, UnknownModel, model_data
from asicrc.drivers.sim import model_class, sim_params
from asicrc.reservoir.backends import BACKENDS


def problems(models: Mapping[str, ModelData]) -> list[str]:
    """Every way the table disagrees with itself, the model names or the classes it points to."""
    found = []
    if tuple(models) != get_args(ModelName):
        found.append(f"keys {tuple(models)} != ModelName {get_args(ModelName)}")
    for name, data in models.items():
        if data.model != name:
            found.append(f"{name}: entry names {data.model!r}")
        if (data.link == "network") != (data.primary_port is not None):
            found.append(f"{name}: primary_port {data.primary_port!r} does not fit link {data.link!r}")
        if data.link == "network" and data.chain_simulator is not None:
            found.append(f"{name}: a network model with a chain simulator")
        if data.link == "uart" and data.simulator is not None:
            found.append(f"{name}: a UART model with a network simulator")
        if data.simulator is not None or data.chain_simulator is not None:
            params = data.sim_params()
            if params.name != name:
                found.append(f"{name}: its simulator runs the parameters of {params.name!r}")
    return found


def test_registry_is_consistent() -> None:
    assert problems(MODELS) == []


def test_consistency_check_flags_a_planted_wrong_entry() -> None:
    planted = dict(MODELS)
    # the LV06 entry pointing at the S9 simulator: a copy-paste slip the check must see
    planted["lv06"] = dataclasses.replace(MODELS["lv06"], simulator=MODELS["s9"].simulator)
    assert problems(planted) == ["lv06: its simulator runs the parameters of 's9'"]
    planted = dict(MODELS)
    del planted["lbbox"]
    assert len(problems(planted)) == 1


def test_every_other_table_reads_the_registry() -> None:
    names = set(get_args(ModelName))
    assert set(MODELS) == names == set(ENVELOPES)
    assert set(get_args(get_type_hints(daemon_config.DeviceConfig)["model"])) == names
    assert {n for n in names if MODELS[n].simulated} == set(registry.simulated_models())
    for name in registry.simulated_models():
        assert model_class(name).spec is sim_params(name)
    assert {k.removeprefix("sim:") for k in BACKENDS if k.startswith("sim:")} == set(
        registry.simulated_models(pool="bitcoin"))
    assert registry.uart_models() == ("bm1366-uart", "bm1387-uart")


def test_unknown_models_are_refused_with_the_known_ones_named() -> None:
    with pytest.raises(UnknownModel, match=r"unknown model 'bm1397' .*s9, lv06, lbbox"):
        model_data("bm1397")
    with pytest.raises(ValueError, match="unknown simulated model 'bm1366-uart'"):
        model_class("bm1366-uart")
    with pytest.raises(ValueError, match="unknown model 'x'"):
        sim_params("x")
    with pytest.raises(SpecError, match=r"devices\[0\]\.model: 'x' is not one of s9, lv06"):
        DeviceSpec.from_mapping({"model": "x", "device_id": "a"}, where="devices[0]")


@pytest.mark.parametrize("name", list(get_args(ModelName)))
def test_each_model_builds_its_own_driver(name: str) -> None:
    raw = {"model": name, "device_id": "d1"}
    if MODELS[name].link == "uart":
        raw["serial_port"] = "/dev/null"
    dev = create_device(raw, fanout=FanOut(), clock=Clock())
    assert isinstance(dev, Device) and dev.identity.model == name and dev.envelope is MODELS[name].envelope
