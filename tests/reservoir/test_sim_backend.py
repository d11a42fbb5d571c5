"""The device backend end to end on the simulator: StratumServer + simulated miner + model Device on 127.0.0.1,
on virtual time (asicrc.drivers.vtime: no wall-clock flakes under load), the real CLI, recording and replay."""

import asyncio
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from asicrc.daemon.cli import main
from asicrc.reservoir.recording import load_run

pytest.importorskip("asicrc.drivers.sim")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lv06", "s9"])
def test_sim_device_report_recording_and_replay(model: str, tmp_path: Path) -> None:
    out = tmp_path / model
    rc = main(["narma", "--backend", f"sim:{model}", "--steps", "200", "--seeds", "2", "--washout", "50",
               "--parallel", "4", "--out", str(out), "--no-progress"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert "device NRMSE" in report["verdict"]
    run = load_run(out / "runs", "seed0_drive")
    const = load_run(out / "runs", "seed0_constant")
    assert run.meta["backend"] == f"sim:{model}" and run.meta["firmware"]
    assert run.meta["fanout_dropped"] == 0
    kinds = set(run.events["kind"].tolist())
    assert {"share", "telemetry"} <= kinds
    assert len(run.bounds_ns) == 201 and np.all(np.diff(run.bounds_ns) > 0)
    count = run.features[:, run.feature_names.index("count@v0")]
    # rate encoding works: more input -> lower difficulty -> more shares in that step
    assert np.corrcoef(count, run.u)[0, 1] > 0.5
    # the constant-drive control carries no information about u
    c_count = const.features[:, const.feature_names.index("count@v0")]
    assert abs(np.corrcoef(c_count, run.u)[0, 1]) < 0.3
    # replay from the recording alone (features recomputed from events) gives the same report
    assert main(["narma", "--replay", str(out), "--out", str(tmp_path / "replay")]) == 0
    again = json.loads((tmp_path / "replay" / "report.json").read_text())
    assert again["models"] == report["models"]


def test_frequency_actuation_goes_through_the_safety_envelope() -> None:
    from asicrc.drivers.device import EnvelopeViolation
    from asicrc.drivers.vtime import run_virtual, running_virtual_loop
    from asicrc.reservoir.device_backend import SimRig, SimSettings
    from asicrc.reservoir.encoding import Actuation

    async def actuate() -> None:
        loop = running_virtual_loop()
        async with SimRig("lv06", 1, loop.clock, SimSettings()) as rig:
            present = await rig.present_knob("frequency")
            with pytest.raises(EnvelopeViolation, match="outside"):
                await rig.apply(Actuation(frequency_mhz=900.0))
            with pytest.raises(EnvelopeViolation, match="max step"):
                await rig.apply(Actuation(frequency_mhz=present + 80.0))  # 485 -> 565: in range, too big a step
            await rig.apply(Actuation(frequency_mhz=present - 40.0))
            assert rig.sim.physics.freq_hz.mean() == pytest.approx((present - 40.0) * 1e6, rel=0.01)

    run_virtual(actuate)


def test_fan_actuation_goes_through_the_envelope_and_cools_the_die() -> None:
    from asicrc.drivers.device import EnvelopeViolation
    from asicrc.drivers.vtime import run_virtual, running_virtual_loop
    from asicrc.reservoir.device_backend import SimRig, SimSettings
    from asicrc.reservoir.encoding import Actuation

    async def actuate() -> None:
        loop = running_virtual_loop()
        async with SimRig("lv06", 1, loop.clock, SimSettings()) as rig:
            with pytest.raises(EnvelopeViolation, match="outside"):
                await rig.apply(Actuation(fan_percent=5.0))  # below the BM1366 envelope's 20 %
            before = float(rig.sim.physics.t_die.max())
            await rig.apply(Actuation(fan_percent=100.0))
            assert not rig.sim.physics.fan_auto and rig.sim.physics.fan_percent == 100.0
            await loop.clock.sleep(120.0)  # two thirds of the heatsink's time constant
            assert float(rig.sim.physics.t_die.max()) < before - 3.0  # more air, a cooler die
            assert await rig.present_knob("fan") == 100.0
            # voltage steps start from the setpoint the envelope checks against, not the sensed (~1.5 % low) value
            assert await rig.present_knob("voltage") == 1200.0
            refused = EnvelopeViolation("d", "core_voltage_mv", 1.0, "outside")
            assert pickle.loads(pickle.dumps(refused)).reason == "outside"  # crosses worker processes intact

    run_virtual(actuate)


def test_knob_runs_record_what_the_slew_limiter_sent() -> None:
    from asicrc.reservoir.backend_api import BackendOptions
    from asicrc.reservoir.device_backend import SimDeviceBackend
    from asicrc.reservoir.encoding import EncoderConfig
    from asicrc.reservoir.narma import generate_narma10

    s = generate_narma10(12, 3)
    opts = BackendOptions(encoder=EncoderConfig(encoding="frequency"), step_s=10.0, workers=1, physics_tick_s=1.0)
    run = asyncio.run(SimDeviceBackend("lv06", opts).drive(s.u, s.target, "monologue", 3))
    cmd = run.commanded[:, 0]
    assert run.commanded.shape == (12, 1)
    wanted = 400.0 + np.minimum(s.u / 0.5, 1.0) * 175.0
    assert np.all(np.abs(np.diff(cmd)) <= 45.0 + 1e-9)  # 90 % of the envelope's 50 MHz max step
    assert np.abs(cmd - wanted).max() > 1.0  # the limiter did bite: what reached the device is not u's mapping
    # the device reports the commanded clock (integer MHz on AxeOS): its telemetry follows cmd, not wanted
    freq = run.features[:, run.feature_names.index("frequency_hz_level@v0")] / 1e6
    assert np.abs(freq[1:] - np.round(cmd[1:])).max() <= 1.0
    assert SimDeviceBackend("lv06", BackendOptions(workers=1)).name == "sim:lv06"
