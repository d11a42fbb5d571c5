"""Run a command under a seccomp filter that fails the given syscalls with EPERM, as systemd does for
`SystemCallFilter=~<set>` with `SystemCallErrorNumber=EPERM` (libseccomp through ctypes; inherited by children).

    python seccomp_exec.py sched_setaffinity,setpriority,... -- program args...
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

SCMP_ACT_ALLOW = 0x7FFF0000


def scmp_act_errno(code: int) -> int:
    return 0x00050000 | (code & 0x0000FFFF)


def install(names: list[str]) -> list[str]:
    """Load the filter into this process; return the names the running libseccomp/kernel knows (and filters)."""
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    filtered = []
    for name in names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # unknown to this libseccomp (newer than it): nothing to filter
            continue
        rc = lib.seccomp_rule_add(ctx, scmp_act_errno(errno.EPERM), nr, 0)
        if rc != 0:
            raise OSError(-rc, f"seccomp_rule_add({name})")
        filtered.append(name)
    rc = lib.seccomp_load(ctx)  # sets no_new_privs first, as systemd's NoNewPrivileges does
    if rc != 0:
        raise OSError(-rc, "seccomp_load")
    return filtered


if __name__ == "__main__":
    sep = sys.argv.index("--")
    install([n for n in sys.argv[1].split(",") if n])
    os.execv(sys.argv[sep + 1], sys.argv[sep + 1:])
