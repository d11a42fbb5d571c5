"""A host that drives a serial port as ESP-Miner's BM1366 driver does, in its own process (no shared GIL, so its
timing is the firmware's, not the test's): run as ``python firmware_host.py PORT`` with a JSON plan on stdin.

Per trial: hold the line hung up (B0: the simulated chain's reset line, like ESP-Miner's ``asic_reset``), back to
115200, send the frames before the chip-id read, read the replies, send the init frames, read, then the baud
switch as ``asic_init.c`` does it: write the baud frame, ``tcdrain``, switch the host at once, flush input and
write the next frames with no pause; then read what comes back. ``mode`` varies the switch for the controls:
``firmware`` (as above), ``drain_wait`` (waits 50 ms after the drain, so the simulator reads the baud frame
before the switch), ``never_switch`` (the host stays at 115200), ``wrong_speed`` (switches to 500 kbaud),
``switch_early`` (switches first, waits 200 ms, then sends the baud frame). One JSON line per trial on stdout:
the bytes received in each phase (hex) and the measured gap between ``tcdrain`` returning and the next write.
Stdlib only: the frames come from the test, built with the project's codecs.
"""

from __future__ import annotations

import json
import os
import select
import sys
import termios
import time
import tty

MAX_GAP_NS = 1_000_000  # the next write must start within 1 ms of tcdrain returning
ATTEMPTS = 5  # a trial whose gap was longer (the OS preempted this process) is retried from the reset


def set_speed(fd: int, baud: int) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[4] = attrs[5] = getattr(termios, f"B{baud}")
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def read_for(fd: int, seconds: float, want: int | None = None) -> bytes:
    """Everything that arrives within ``seconds`` (or until ``want`` bytes arrived)."""
    out = bytearray()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and (want is None or len(out) < want):
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            out += os.read(fd, 4096)
    return bytes(out)


def trial(fd: int, plan: dict[str, object], mode: str) -> dict[str, object]:
    plan_mode = mode
    frames = {k: bytes.fromhex(v) if isinstance(v, str) else b"".join(bytes.fromhex(x) for x in v)
              for k, v in plan.items() if k in ("pre", "enum", "init", "baud", "after", "check")}
    set_speed(fd, 0)  # B0: hang up = reset line held
    time.sleep(0.02)
    set_speed(fd, 115200)
    termios.tcflush(fd, termios.TCIFLUSH)
    write_all(fd, frames["pre"] + frames["enum"])
    enum = read_for(fd, 1.0, want=11 * int(str(plan["chips"])))
    write_all(fd, frames["init"] + frames["check"])
    addressed = read_for(fd, 0.3, want=11 * int(str(plan["chips"])))
    fast = int(str(plan["fast_baud"]))
    if mode == "switch_early":
        set_speed(fd, fast)
        time.sleep(0.2)
    write_all(fd, frames["baud"])
    termios.tcdrain(fd)
    if mode == "drain_wait":  # the old workaround: let the chip (simulator) take the frame before switching
        time.sleep(0.05)
    t_drained = time.perf_counter_ns()
    if mode == "drain_wait":
        mode = "firmware"
    if mode == "firmware":
        set_speed(fd, fast)
    elif mode == "wrong_speed":
        set_speed(fd, 500_000)
    termios.tcflush(fd, termios.TCIFLUSH)
    t_next = time.perf_counter_ns()
    write_all(fd, frames["after"])
    after = read_for(fd, float(str(plan["listen_s"])))
    return {"mode": plan_mode, "enum": enum.hex(), "addressed": addressed.hex(), "after": after.hex(),
            "gap_ns": t_next - t_drained}


def main() -> int:
    plan = json.loads(sys.stdin.read())
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    try:
        for mode in plan["modes"]:
            for attempt in range(1, ATTEMPTS + 1):
                result = trial(fd, plan, mode)
                if int(str(result["gap_ns"])) < MAX_GAP_NS or attempt == ATTEMPTS:
                    break
            result["attempts"] = attempt
            print(json.dumps(result), flush=True)
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
