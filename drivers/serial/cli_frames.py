"""`asicrc frames`: decode captured BM1366/BM1387 serial bytes to JSON lines, or encode frames to hex.

    asicrc frames decode --chip bm1366 --hex "AA 55 13 66 00 00 00 00 00 00 05"
    asicrc frames decode --chip bm1387 capture.bin          (raw bytes; --format hex for a hex text file)
    asicrc frames encode --chip bm1366 --pll 485
    asicrc frames encode --chip bm1366 --job NOTIFY_JSON --extranonce1 08000002 --extranonce2 00000001 --job-id 8
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from typing import Any

import numpy as np

from asicrc.native import codecs, registers
from asicrc.native.codecs import FrameError

KIND_NAMES = {int(k): k.name.lower() for k in codecs.Kind}
REPLY_FIELDS = {
    int(codecs.Kind.NONCE): ("nonce", "job_id", "small_core", "midstate", "version_bits", "chip", "core", "flags"),
    int(codecs.Kind.REGISTER): ("value", "chip_addr", "reg", "flags"),
}
HOST_FIELDS = {
    int(codecs.Kind.COMMAND): ("hdr", "length", "chip_addr", "reg", "value"),
    int(codecs.Kind.JOB): ("hdr", "length", "job_id", "num_midstates", "starting_nonce", "nbits", "ntime", "version"),
}
DECODERS = {
    ("bm1366", "chip"): codecs.BM1366Decoder,
    ("bm1366", "host"): codecs.BM1366HostDecoder,
    ("bm1387", "chip"): codecs.BM1387Decoder,
    ("bm1387", "host"): codecs.BM1387HostDecoder,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{decode,encode}")
    dec = sub.add_parser("decode", help="decode bytes into one JSON object per frame")
    dec.add_argument("--chip", required=True, choices=("bm1366", "bm1387"))
    dec.add_argument("--from", dest="sender", choices=("auto", "chip", "host"), default="auto",
                     help="who sent the bytes: chip (replies), host (commands/jobs) or auto (whichever decodes more)")
    dec.add_argument("--format", choices=("auto", "raw", "hex"), default="auto",
                     help="FILE content: raw bytes, hex text, or auto (hex text when the file is nothing but hex "
                          "digits, separators and whitespace; a raw capture never is: frames start AA 55 / 55 AA)")
    dec.add_argument("--address-interval", type=int, default=None,
                     help="chip address step for nonce attribution (256/chips; default 256 BM1366, 4 BM1387)")
    src = dec.add_mutually_exclusive_group(required=True)
    src.add_argument("--hex", help="the bytes as hex (spaces, colons allowed)")
    src.add_argument("file", nargs="?", help="capture file ('-' for stdin)")

    enc = sub.add_parser("encode", help="print one frame (or a sequence, one per line) as hex")
    enc.add_argument("--chip", required=True, choices=("bm1366", "bm1387"))
    what = enc.add_mutually_exclusive_group(required=True)
    what.add_argument("--pll", type=float, metavar="MHZ", help="PLL register write for this frequency")
    what.add_argument("--ticket-diff", type=float, metavar="D", help="ticket mask register write")
    what.add_argument("--baud", type=int, metavar="B", help="UART baud register write")
    what.add_argument("--job", metavar="NOTIFY_JSON", help="mining.notify params list (or the whole message)")
    what.add_argument("--read-reg", type=lambda s: int(s, 0), metavar="REG", help="register read")
    what.add_argument("--write-reg", metavar="REG=VALUE", help="register write, e.g. 0x14=0x000000ff")
    what.add_argument("--chain-inactive", action="store_true", help="chain inactive command")
    what.add_argument("--set-address", type=lambda s: int(s, 0), metavar="ADDR", help="set chip address")
    what.add_argument("--enumerate", type=int, metavar="CHIPS", help="chain-inactive + set-address sequence")
    what.add_argument("--init", action="store_true", help="BM1366 init sequence (with --chips, --freq, --diff)")
    what.add_argument("--nonce-reply", type=lambda s: int(s, 0), metavar="NONCE", help="chip->host nonce reply")
    what.add_argument("--register-reply", type=lambda s: int(s, 0), metavar="VALUE", help="chip->host register reply")
    enc.add_argument("--chip-addr", type=lambda s: int(s, 0), default=None, help="one chip (default: all)")
    enc.add_argument("--extranonce1", help="hex (with --job)")
    enc.add_argument("--extranonce2", help="hex (with --job)")
    enc.add_argument("--job-id", type=lambda s: int(s, 0), default=0, help="chip job id (--job, --nonce-reply)")
    enc.add_argument("--versions", help="comma-separated rolled versions for BM1387 midstates (hex)")
    enc.add_argument("--chips", type=int, default=1, help="chip count for --init")
    enc.add_argument("--freq", type=float, default=485.0, help="frequency for --init (MHz)")
    enc.add_argument("--diff", type=float, default=256, help="ticket difficulty for --init")


def _parse_hex(text: str, what: str) -> bytes:
    cleaned = "".join(ch for ch in text if ch not in string.whitespace + ":")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        bad = next((ch for ch in cleaned if ch not in string.hexdigits), None)
        reason = f"invalid character {bad!r}" if bad else f"odd number of hex digits ({len(cleaned)})"
        raise FrameError(f"{what} is not valid hex: {reason}") from None


_HEX_TEXT = frozenset(b"0123456789abcdefABCDEF \t\r\n:")


def _looks_like_hex_text(raw: bytes) -> bool:
    return all(b in _HEX_TEXT for b in raw)


def _read_input(args: argparse.Namespace) -> bytes:
    if args.hex is not None:
        return _parse_hex(args.hex, "--hex")
    if args.file == "-":
        raw = sys.stdin.buffer.read()
    else:
        with open(args.file, "rb") as fh:
            raw = fh.read()
    if args.format == "auto" and raw.strip() and _looks_like_hex_text(raw):
        return _parse_hex(raw.decode("ascii"), args.file)
    if args.format == "hex":
        try:
            return _parse_hex(raw.decode("ascii"), args.file)
        except UnicodeDecodeError:
            raise FrameError(f"{args.file} is not ASCII hex text") from None
    return raw


def _record_json(rec: np.void, host: bool, data: bytes, reply_len: int) -> dict[str, Any]:
    kind = int(rec["kind"])
    fields = (HOST_FIELDS if host else REPLY_FIELDS)[kind]
    out: dict[str, Any] = {"offset": int(rec["offset"]), "kind": KIND_NAMES[kind], "crc_ok": bool(rec["crc_ok"])}
    out["fields"] = {name: int(rec[name]) for name in fields}
    if host:
        frame = codecs.host_frame_bytes(rec)
        out["hex"] = frame.hex()
        if kind == codecs.Kind.JOB and frame[:1] == b"\x21":  # BM1387 work carries midstates
            out["fields"]["midstates"] = [m.hex() for m in codecs.bm1387_work_midstates(rec)]
    else:
        off = int(rec["offset"])
        out["hex"] = data[off:off + reply_len].hex()
    return out


def _decode(args: argparse.Namespace) -> int:
    data = _read_input(args)
    senders = ("chip", "host") if args.sender == "auto" else (args.sender,)
    best: tuple[int, str, np.ndarray, codecs.DecoderStats] | None = None
    for sender in senders:
        cls = DECODERS[(args.chip, sender)]
        dec = cls(address_interval=args.address_interval, emit_bad=True) if sender == "chip" else cls(emit_bad=True)
        recs = dec.feed(data)
        dec.flush()
        # the direction whose frames explain more of the bytes wins (false frames are short and rare)
        explained = dec.stats.bytes_in - dec.stats.bytes_dropped
        if best is None or explained > best[0]:
            best = (explained, sender, recs, dec.stats)
    assert best is not None
    _, sender, recs, stats = best
    for rec in recs:
        reply_len = 11 if args.chip == "bm1366" else 7
        print(json.dumps(_record_json(rec, sender == "host", data, reply_len)))
    summary = {"from": sender, "frames": stats.frames, "bad_crc": stats.bad_crc,
               "bytes_dropped": stats.bytes_dropped, "bytes": stats.bytes_in}
    print(json.dumps({"summary": summary}), file=sys.stderr)
    if len(recs) == 0 and stats.bytes_in:
        hint = " (hex text? it was read as raw bytes: use --format hex)" if args.format == "raw" else ""
        raise FrameError(f"no {args.chip} frames in {stats.bytes_in} bytes{hint}")
    return 0


def _job_frame(args: argparse.Namespace) -> bytes:
    from asicrc.drivers.stratum.work import Notify, build_header

    if args.extranonce1 is None or args.extranonce2 is None:
        raise FrameError("--job needs --extranonce1 and --extranonce2")
    try:
        msg = json.loads(args.job)
    except json.JSONDecodeError as exc:
        raise FrameError(f"--job is not valid JSON: {exc.msg} at position {exc.pos}") from None
    params = msg.get("params") if isinstance(msg, dict) else msg
    notify = Notify.from_params(params)
    if notify.claimtrie is not None:
        raise FrameError("--job is an LBRY notify (10 params); BM1366/BM1387 take Bitcoin jobs only")
    header = build_header(notify, _parse_hex(args.extranonce1, "--extranonce1"),
                          _parse_hex(args.extranonce2, "--extranonce2"))
    if args.chip == "bm1366":
        return codecs.bm1366_job(header, args.job_id)
    versions = None
    if args.versions:
        try:
            versions = [int(v, 16) for v in args.versions.split(",")]
        except ValueError:
            raise FrameError(f"--versions must be comma-separated hex, got {args.versions!r}") from None
    return codecs.bm1387_work(header, args.job_id, versions)


def _encode_frames(args: argparse.Namespace) -> list[bytes]:
    is66 = args.chip == "bm1366"
    if args.pll is not None:
        return [registers.bm1366_pll_frame(args.pll) if is66 else registers.bm1387_pll_frame(args.pll, args.chip_addr)]
    if args.ticket_diff is not None:
        return [registers.bm1366_ticket_mask_frame(args.ticket_diff) if is66
                else registers.bm1387_ticket_mask_frame(args.ticket_diff)]
    if args.baud is not None:
        return [registers.bm1366_baud_frame(args.baud) if is66 else registers.bm1387_baud_frame(args.baud)]
    if args.job is not None:
        return [_job_frame(args)]
    if args.read_reg is not None:
        return [(codecs.bm1366_read_reg if is66 else codecs.bm1387_read_reg)(args.read_reg, args.chip_addr)]
    if args.write_reg is not None:
        reg, sep, value = args.write_reg.partition("=")
        try:
            r, v = int(reg, 0), int(value, 0)
        except ValueError:
            raise FrameError(f"--write-reg must be REG=VALUE (e.g. 0x14=0xff), got {args.write_reg!r}") from None
        if not sep:
            raise FrameError(f"--write-reg must be REG=VALUE, got {args.write_reg!r}")
        return [(codecs.bm1366_write_reg if is66 else codecs.bm1387_write_reg)(r, v, args.chip_addr)]
    if args.chain_inactive:
        return [codecs.bm1366_chain_inactive() if is66 else codecs.bm1387_chain_inactive()]
    if args.set_address is not None:
        return [codecs.bm1366_set_address(args.set_address) if is66 else codecs.bm1387_set_address(args.set_address)]
    if args.enumerate is not None:
        if is66:
            return [registers.bm1366_enumerate_frame(), *registers.bm1366_address_sequence(args.enumerate)]
        return [registers.bm1387_enumerate_frame(), *registers.bm1387_address_sequence(args.enumerate)]
    if args.init:
        if not is66:
            raise FrameError("--init is only defined for bm1366")
        return [step.frame for step in registers.bm1366_init_sequence(args.chips, args.freq, args.diff)]
    if args.nonce_reply is not None:
        return [codecs.bm1366_nonce_reply(args.nonce_reply, args.job_id) if is66
                else codecs.bm1387_nonce_reply(args.nonce_reply, args.job_id)]
    value = args.register_reply
    return [codecs.bm1366_register_reply(value, args.chip_addr or 0) if is66 else codecs.bm1387_register_reply(value)]


def run(args: argparse.Namespace) -> int:
    if args.action == "decode":
        return _decode(args)
    for frame in _encode_frames(args):
        print(frame.hex())
    return 0
