"""The checks every MQTT request passes (reply topic, payload, rate limits, experiment size), unit level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asicrc.daemon.api import RequestError
from asicrc.daemon.experiments import ExperimentError, Limits, build_argv
from asicrc.daemon.mqtt_requests import MAX_DEPTH, check_reply_topic, decode_request
from asicrc.daemon.ratelimit import RateLimiter

PREFIXES = ["asicrc/client/"]


@pytest.mark.parametrize(("topic", "needle"), [
    ("asicrc/client/a\0b", "NUL"),
    ("asicrc/client/\ud800", "UTF-8"),
    ("asicrc/client/" + "a" * 70_000, "longer than 512 bytes"),
    ("asicrc/client/+/r", "wildcard '+'"),
    ("asicrc/client/#", "wildcard '#'"),
    ("asicrc/client/\x07bell", "control character"),
    ("asicrc/other/request/restart_device", "under asicrc/client/"),
    ("asicrc/client", "under asicrc/client/"),
    ("asicrc/client/", "under asicrc/client/"),
    ("$SYS/broker", "under asicrc/client/"),
    ("", "empty"),
    (42, "must be a string"),
])
def test_bad_reply_topics_are_refused_with_the_reason(topic: object, needle: str) -> None:
    with pytest.raises(RequestError) as err:
        check_reply_topic(topic, PREFIXES)
    assert needle in str(err.value)
    assert len(str(err.value)) < 200  # never echoes the topic


def test_good_reply_topics_pass() -> None:
    assert check_reply_topic("asicrc/client/asicrc-cli-1a2b/reply", PREFIXES) == "asicrc/client/asicrc-cli-1a2b/reply"
    assert check_reply_topic("lab/replies/x", ["asicrc/client/", "lab/replies/"]) == "lab/replies/x"
    assert check_reply_topic("asicrc/client/ü/ok", PREFIXES)  # non-ASCII UTF-8 is fine


@pytest.mark.parametrize(("payload", "needle"), [
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 50_000, "nested deeper"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper"),
    (b"[1, 2]", "must be a JSON object"),
    (b"{bad", "not JSON"),
    (b"x" * 70_000, "larger than 65536 bytes"),
])
def test_bad_payloads_are_refused(payload: bytes, needle: str) -> None:
    with pytest.raises(RequestError) as err:
        decode_request(payload, 65536)
    assert needle in str(err.value)


def test_good_payloads_decode() -> None:
    assert decode_request(b"", 100) == {} and decode_request(b"  ", 100) == {}
    nested = json.dumps({"a": [[[1]]], "transaction": "t"}).encode()
    assert decode_request(nested, 1000)["transaction"] == "t"
    at_limit = b'{"a":' * (MAX_DEPTH - 1) + b"1" + b"}" * (MAX_DEPTH - 1)
    assert decode_request(at_limit, 10_000)


def test_rate_limiter_burst_then_rate() -> None:
    t = [0.0]
    lim = RateLimiter(burst_s=60.0, now=lambda: t[0])
    per_s = 2 / 60  # 2 per minute
    assert [lim.allow("set_fan", per_s) for _ in range(3)] == [True, True, False]
    assert lim.allow("set_voltage", per_s)  # its own bucket
    t[0] += 29.0
    assert not lim.allow("set_fan", per_s)
    t[0] += 2.0  # one token back after 30 s
    assert lim.allow("set_fan", per_s) and not lim.allow("set_fan", per_s)


def test_experiment_size_and_values_are_checked_before_start(tmp_path: Path) -> None:
    limits = Limits(max_steps_x_seeds=20_000, max_speed=50.0)
    out = tmp_path / "o"
    argv = build_argv("narma", {"steps": 1000, "seeds": 5, "backend": "esn"}, out, limits)
    assert "--steps" in argv and argv[argv.index("--steps") + 1] == "1000"
    assert argv[argv.index("--parallel") + 1] == "1"  # a daemon-started run never takes every core
    cases = [({"steps": 50_000_000, "seeds": 5}, "steps × seeds = 250000000 (50000000 × 5) exceeds"),
             ({"steps": 10_000}, "steps × seeds = 70000 (10000 × 7)"),  # the CLI's default seeds count
             ({"backend": "nope"}, "unknown backend 'nope'"),
             ({"mode": "chatter"}, "invalid choice"),
             ({"steps": 0}, "must be >= 1"),
             ({"steps": 250}, "too short for the washout"),
             ({"speed": 1e9}, "speed must be in (0, 50]"),
             ({"seeds": 10**30}, "out of range"),
             ({"steps": "many"}, "must be int"),
             ({"rm": 1}, "unknown parameter 'rm'")]
    for params, needle in cases:
        with pytest.raises(ExperimentError) as err:
            build_argv("narma", params, out, limits)
        assert needle in str(err.value), (params, str(err.value))
    with pytest.raises(ExperimentError, match="unknown experiment"):
        build_argv("../../etc", {}, out, limits)


def test_mirrored_narma_defaults_match_the_cli() -> None:
    """experiments.py mirrors `asicrc narma`'s defaults (importing the CLI would stall the daemon's loop)."""
    import argparse

    from asicrc.daemon import experiments
    from asicrc.reservoir import experiment
    from asicrc.reservoir.cli_narma import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    for key, value in experiments.NARMA_DEFAULTS.items():
        assert getattr(args, key) == value, key
    assert args.washout == experiments.NARMA_DEFAULT_WASHOUT
    assert experiment.MIN_AFTER_WASHOUT == experiments.NARMA_MIN_AFTER_WASHOUT
