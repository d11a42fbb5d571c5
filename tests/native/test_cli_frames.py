"""`asicrc frames decode|encode`: JSON lines out, hex out, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asicrc.daemon.cli import main
from asicrc.native import codecs as c

SLUSH_NOTIFY = json.dumps([
    "bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000",
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008",
    "072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",
    [], "00000002", "1c2ac4af", "504e86b9", False,
])
SLUSH_HEADER = bytes.fromhex(
    "02000000f8b6164d19e2f65a2aae448f787fe66d61e57a48c0c6771b1e920b440000000032414daa9ddac879fd2c62839b9ba710"
    "a3546363a5f5e22915d90dc3b1699deced864e50afc42a1c027c95b2"
)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["frames", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_decode_hex_reply_stream(capsys: pytest.CaptureFixture[str]) -> None:
    nonce = c.bm1366_nonce_reply(0xB2957C02, 16, 2, 0x2000)
    rc, out, err = run_cli(capsys, "decode", "--chip", "bm1366", "--hex",
                           "AA 55 13 66 00 00 00 00 00 00 05 EE" + nonce.hex())
    assert rc == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["kind"] for x in lines] == ["register", "nonce"]
    assert lines[0]["fields"]["value"] == 0x13660000 and lines[0]["offset"] == 0 and lines[0]["crc_ok"] is True
    assert lines[1]["offset"] == 12 and lines[1]["fields"]["nonce"] == 0xB2957C02 and lines[1]["hex"] == nonce.hex()
    assert lines[1]["fields"]["job_id"] == 16 and lines[1]["fields"]["small_core"] == 2
    summary = json.loads(err)["summary"]
    assert summary == {"from": "chip", "frames": 2, "bad_crc": 0, "bytes_dropped": 1, "bytes": 23}


def test_decode_shows_bad_crc_frames(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "decode", "--chip", "bm1366", "--from", "chip", "--hex", "AA5513660000000000000006")
    assert rc == 0
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line["crc_ok"] is False and line["kind"] == "register"


def test_decode_file_host_frames_auto(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = c.bm1387_work(SLUSH_HEADER, 0x21, [0x20000000, 0x20002000])
    capture = tmp_path / "cap.bin"
    capture.write_bytes(b"\x00\x01" + c.bm1387_chain_inactive() + work)
    rc, out, err = run_cli(capsys, "decode", "--chip", "bm1387", str(capture))
    assert rc == 0 and json.loads(err)["summary"]["from"] == "host"
    cmd, job = (json.loads(x) for x in out.splitlines())
    assert cmd["kind"] == "command" and cmd["hex"] == "5505000010" and cmd["offset"] == 2
    assert job["kind"] == "job" and job["fields"]["num_midstates"] == 2 and len(job["fields"]["midstates"]) == 2
    hexfile = tmp_path / "cap.hex"
    hexfile.write_text(work.hex(" ") + "\n")
    rc, out, _ = run_cli(capsys, "decode", "--chip", "bm1387", "--format", "hex", str(hexfile))
    assert rc == 0 and json.loads(out)["hex"] == work.hex()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--chip", "bm1366", "--pll", "485"], "55aa5109000850c202401c"),
        (["--chip", "bm1366", "--ticket-diff", "256"], "55aa51090014000000ff08"),
        (["--chip", "bm1366", "--baud", "1000000"], "55aa510900281130020003"),
        (["--chip", "bm1387", "--pll", "650", "--chip-addr", "0x24"], "4809240c006802211f"),
        (["--chip", "bm1387", "--ticket-diff", "64"], "58090018000000fc06"),
        (["--chip", "bm1387", "--chain-inactive"], "5505000010"),
        (["--chip", "bm1387", "--set-address", "4"], "410504000a"),
        (["--chip", "bm1366", "--read-reg", "0x8c"], "55aa5205008c1d"),
        (["--chip", "bm1366", "--write-reg", "0xa4=0x9000ffff"], "55aa510900a49000ffff1c"),
        (["--chip", "bm1366", "--register-reply", "0x13660000"], "aa551366000000000000" + "05"),
    ],
)
def test_encode_register_frames(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    rc, out, _ = run_cli(capsys, "encode", *argv)
    assert rc == 0 and out.strip() == expected


def test_encode_job_from_notify(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--job", SLUSH_NOTIFY, "--extranonce1", "08000002", "--extranonce2", "00000001", "--job-id", "8"]
    rc, out, _ = run_cli(capsys, "encode", "--chip", "bm1366", *common)
    frame = bytes.fromhex(out.strip())
    # the notify's ntime is 504e86b9; the slush share used 504e86ed, so compare everything but ntime
    expect = c.bm1366_job(SLUSH_HEADER[:68] + bytes.fromhex("b9864e50") + SLUSH_HEADER[72:], 8)
    assert rc == 0 and frame == expect
    rc, out, _ = run_cli(capsys, "encode", "--chip", "bm1387", *common, "--versions", "20000000,20002000")
    assert rc == 0 and bytes.fromhex(out.strip())[:4] == bytes.fromhex("21 56 08 02")


def test_encode_sequences(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "encode", "--chip", "bm1387", "--enumerate", "3")
    assert rc == 0 and out.split() == ["5405000019", "5505000010", c.bm1387_set_address(0).hex(),
                                       c.bm1387_set_address(4).hex(), c.bm1387_set_address(8).hex()]
    rc, out, _ = run_cli(capsys, "encode", "--chip", "bm1366", "--init")
    assert rc == 0 and out.split()[-1] == "55aa510900281130020003" and len(out.split()) > 15


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["decode", "--chip", "bm1366", "--hex", "0xZZ"], "--hex is not valid hex: invalid character 'Z'"),
        (["decode", "--chip", "bm1366", "--hex", "abc"], "odd number of hex digits"),
        (["encode", "--chip", "bm1366", "--job", "[1,", "--extranonce1", "00", "--extranonce2", "00"],
         "--job is not valid JSON"),
        (["encode", "--chip", "bm1366", "--job", "[1,2]", "--extranonce1", "00", "--extranonce2", "00"],
         "needs 9 params"),
        (["encode", "--chip", "bm1366", "--job", SLUSH_NOTIFY], "needs --extranonce1"),
        (["encode", "--chip", "bm1366", "--pll", "99999"], "frequency must be"),
        (["encode", "--chip", "bm1366", "--write-reg", "0x14"], "REG=VALUE"),
        (["decode", "--chip", "bm1387", "/nonexistent/capture.bin"], "No such file"),
    ],
)
def test_errors_are_one_clear_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    rc = main(["frames", *argv])
    err = capsys.readouterr().err
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_installed_entry_point() -> None:
    exe = Path(sys.executable).with_name("asicrc")
    proc = subprocess.run([str(exe), "frames", "encode", "--chip", "bm1366", "--pll", "525"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "55aa5109000840a8023003"


def test_decode_hex_text_file_without_format_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = c.bm1387_work(SLUSH_HEADER, 0x21, [0x20000000, 0x20002000])
    hexfile = tmp_path / "cap.txt"
    hexfile.write_text(work.hex(" ") + "\n")
    rc, out, _ = run_cli(capsys, "decode", "--chip", "bm1387", str(hexfile))  # auto: hex text is read as hex
    assert rc == 0 and json.loads(out)["hex"] == work.hex()
    # forced raw: the same text decodes to nothing, and that is an error naming the likely cause, not silence
    rc, out, err = run_cli(capsys, "decode", "--chip", "bm1387", "--format", "raw", str(hexfile))
    assert rc == 1 and out == "" and "no bm1387 frames in" in err and "--format hex" in err
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(0x80, 0xC0)))
    rc, _, err = run_cli(capsys, "decode", "--chip", "bm1366", str(noise))
    assert rc == 1 and "no bm1366 frames in 64 bytes" in err
