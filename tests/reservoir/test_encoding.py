import struct

import pytest

from asicrc.drivers.device import Range, SafetyEnvelope
from asicrc.reservoir.encoding import EncoderConfig, InputEncoder

ENV = SafetyEnvelope(frequency_mhz=Range(400, 575, 50, 10), core_voltage_mv=Range(1100, 1300, 50, 10),
                     fan_percent=Range(20, 100, 100, 1), thermal_throttle_c=65, thermal_stop_c=72)


def test_difficulty_rate_encoding_and_clipping() -> None:
    enc = InputEncoder(EncoderConfig(d_base=10.0, eps=0.05, d_min=15.0, d_max=150.0))
    assert enc.actuation(0.45).difficulty == pytest.approx(20.0)
    assert enc.actuation(0.0).difficulty == 150.0  # 10/0.05 = 200 clipped
    assert enc.actuation(5.0).difficulty == 15.0  # out-of-range input clipped to the encoder's input range


def test_constant_mode_ignores_the_input() -> None:
    enc = InputEncoder(EncoderConfig(d_base=10.0, mode="constant"))
    assert enc.actuation(0.0).difficulty == enc.actuation(0.5).difficulty == pytest.approx(10 / 0.3)


def test_dialogue_feeds_back_the_previous_state() -> None:
    mono = InputEncoder(EncoderConfig(d_base=10.0, mode="monologue"))
    dia = InputEncoder(EncoderConfig(d_base=10.0, mode="dialogue", feedback=0.5))
    for count in (5, 7, 6, 30):  # the last step was unusually busy -> dialogue raises difficulty
        mono.observe(count)
        dia.observe(count)
    assert dia.actuation(0.2).difficulty > mono.actuation(0.2).difficulty


def test_job_content_encoding_packs_float32() -> None:
    payload = InputEncoder(EncoderConfig(encoding="job")).actuation(0.25).job_payload
    assert payload is not None and struct.unpack(">f", payload)[0] == pytest.approx(0.25)


def test_frequency_modulation_stays_inside_the_envelope() -> None:
    enc = InputEncoder(EncoderConfig(encoding="frequency"), envelope=ENV, sub_period_s=10.0)
    first = enc.actuation(0.5).frequency_mhz
    assert first == 575.0
    nxt = enc.actuation(0.0).frequency_mhz  # wants 400, limited to 90% of one max_step down
    assert nxt == 530.0
    enc.start_from(485.0)  # the device's present setting
    assert enc.actuation(0.5).frequency_mhz == 530.0
    with pytest.raises(ValueError, match="settle time"):
        InputEncoder(EncoderConfig(encoding="frequency"), envelope=ENV, sub_period_s=2.0)
    with pytest.raises(ValueError, match="safety envelope"):
        InputEncoder(EncoderConfig(encoding="voltage"), sub_period_s=20.0)


def test_virtual_node_mask_varies_drive_within_a_step() -> None:
    enc = InputEncoder(EncoderConfig(d_base=10.0, virtual_nodes=4, mask_seed=3))
    ds = {enc.actuation(0.3, j).difficulty for j in range(4)}
    assert len(ds) == 4


def test_bad_config_is_named() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        EncoderConfig(encoding="telepathy")
    with pytest.raises(ValueError, match="unknown mode"):
        EncoderConfig(mode="shout")


def test_fan_modulation_starts_above_the_thermal_band_and_records_what_it_sent() -> None:
    enc = InputEncoder(EncoderConfig(encoding="fan"), envelope=ENV, sub_period_s=1.0)
    act = enc.actuation(0.0)
    # the default band starts at FAN_LOW_PERCENT (40), not the envelope's 20: a cool die whatever the input
    assert act.fan_percent == 40.0 and act.frequency_mhz is None and enc.commanded == 40.0
    assert enc.actuation(0.5).fan_percent == 100.0 == enc.commanded


def test_commanded_is_the_slew_limited_value_not_the_wanted_one() -> None:
    enc = InputEncoder(EncoderConfig(encoding="frequency"), envelope=ENV, sub_period_s=10.0)
    enc.start_from(485.0)
    sent = [enc.actuation(u).frequency_mhz for u in (0.5, 0.5, 0.0)]
    assert sent == [530.0, 575.0, 530.0]
    assert enc.commanded == 530.0  # what the last actuation sent (u = 0 wanted 400)
    assert InputEncoder(EncoderConfig(d_base=10.0)).commanded is None  # difficulty has no knob to slew
