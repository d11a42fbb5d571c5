import numpy as np
import pytest

from asicrc.drivers.events import Event, Kind, Source
from asicrc.reservoir.eventcols import events_to_columns
from asicrc.reservoir.features import extract_features

S = 1_000_000_000  # ns per second


def share(t_s: float, diff: float = 2.0, nonce: int = 0xFF000000, verdict: str = "accepted") -> Event:
    return Event(int(t_s * S), "dev", Source.STRATUM, Kind.SHARE,
                 {"achieved_diff": diff, "assigned_diff": 1.0, "nonce": nonce, "version_bits": 0x3,
                  "verdict": verdict, "job_id": "a"})


def telemetry(t_s: float, temp: float, power: float) -> Event:
    return Event(int(t_s * S), "dev", Source.HTTP, Kind.TELEMETRY,
                 {"temp_chip_c": [temp, temp + 2.0], "power_w": power})


def test_columns_keep_types_and_missing_values() -> None:
    cols = events_to_columns([telemetry(1.5, 50, 10), share(0.5), share(1.0, verdict="low-difficulty")])
    assert cols["t_ns"].tolist() == [S // 2, S, 3 * S // 2]  # sorted by time
    assert cols["kind"].tolist() == ["share", "share", "telemetry"]
    assert cols["temp_chip_c"][2] == 51.0 and np.isnan(cols["temp_chip_c"][0])  # per-chain list -> mean
    assert cols["verdict"].tolist() == ["accepted", "low-difficulty", ""]


def test_per_window_share_statistics() -> None:
    # window 0 = [0, 1) s: shares at 0.2, 0.4, 0.8; window 1 = [1, 2): one share at 1.6; window 2 = [2, 3): none
    evs = [share(0.2, diff=4.0), share(0.4, diff=16.0), share(0.8, diff=2.0, verdict="stale"),
           share(1.6, diff=8.0, nonce=0x00000001)]
    fm = extract_features(events_to_columns(evs), np.array([0, 1, 2, 3]) * S)
    f = dict(zip(fm.names, fm.values.T, strict=True))
    np.testing.assert_array_equal(f["count@v0"], [3, 1, 0])
    # a window stretched by a host stall: count grows with its length, rate (count / true length) does not
    evs2 = [share(t) for t in (0.25, 0.5, 0.75, 1.5, 2.0, 2.5, 2.9)]
    fm2 = extract_features(events_to_columns(evs2), np.array([0, 1, 3]) * S)
    g = dict(zip(fm2.names, fm2.values.T, strict=True))
    np.testing.assert_array_equal(g["count@v0"], [3, 4])
    np.testing.assert_allclose(g["rate@v0"], [3.0, 2.0])
    # intervals ending in window 0: 0.2 and 0.4 s; in window 1: 0.8 s
    assert f["log_dt_mean@v0"][0] == pytest.approx((np.log(0.2) + np.log(0.4)) / 2)
    assert f["log_dt_mean@v0"][1] == pytest.approx(np.log(0.8))
    assert f["log_dt_mean@v0"][2] == pytest.approx(np.log(1.0))  # empty window: the gap is >= its length
    assert f["cv_dt@v0"][0] == pytest.approx(np.std([0.2, 0.4]) / np.mean([0.2, 0.4]))
    assert f["log2_diff_mean@v0"][0] == pytest.approx((2 + 4 + 1) / 3)
    assert f["log2_diff_max@v0"].tolist() == [4.0, 3.0, 0.0]
    assert f["reject_fraction@v0"][0] == pytest.approx(1 / 3)
    assert f["nonce_hi_byte_mean@v0"][:2].tolist() == [1.0, 0.0]
    assert f["nonce_popcount_mean@v0"][1] == pytest.approx(1 / 32)
    assert f["version_popcount_mean@v0"][0] == pytest.approx(2 / 32)


def test_telemetry_levels_carry_forward_and_deltas() -> None:
    evs = [telemetry(0.5, 50.0, 10.0), telemetry(2.5, 54.0, 12.0)]
    fm = extract_features(events_to_columns(evs), np.array([0, 1, 2, 3, 4]) * S)
    f = dict(zip(fm.names, fm.values.T, strict=True))
    # level = last reading before the window end; per-chain lists are averaged (50, 52 -> 51)
    assert f["temp_chip_c_level@v0"].tolist() == [51.0, 51.0, 55.0, 55.0]
    assert f["temp_chip_c_delta@v0"].tolist() == [0.0, 0.0, 4.0, 0.0]
    assert f["power_w_level@v0"].tolist() == [10.0, 10.0, 12.0, 12.0]


def test_virtual_nodes_concatenate_sub_windows() -> None:
    evs = [share(0.1), share(0.6), share(0.7), share(1.2)]
    fm = extract_features(events_to_columns(evs), np.arange(5) * S // 2, virtual_nodes=2)
    assert fm.values.shape[0] == 2
    counts = fm.values[:, [fm.names.index("count@v0"), fm.names.index("count@v1")]]
    np.testing.assert_array_equal(counts, [[1, 2], [1, 0]])


def test_bad_boundaries_are_named() -> None:
    cols = events_to_columns([share(0.1)])
    with pytest.raises(ValueError, match="strictly increasing"):
        extract_features(cols, [0, 2 * S, S])
    with pytest.raises(ValueError, match=r"T\*2\+1 window boundaries"):
        extract_features(cols, [0, S, 2 * S, 3 * S], virtual_nodes=2)
