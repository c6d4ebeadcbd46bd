"""A seccomp filter for the sandbox, written as a classic BPF program (what ``bwrap --seccomp FD`` loads).

It refuses (``EPERM``) what untrusted tests never need and what widens the attack surface of the
kernel: new namespaces (``unshare``, ``setns``, ``clone`` with a ``CLONE_NEW*`` flag), ``ptrace``
and cross-process memory access, ``mount`` and the new mount API, ``bpf``, ``keyctl`` and its
friends, ``perf_event_open``, ``userfaultfd``, ``io_uring`` (whose operations bypass seccomp),
module and kexec loading, ``reboot``, ``swapon``, ``acct``, ``syslog``, file handles and
terminal injection (``ioctl`` ``TIOCSTI``/``TIOCLINUX``). ``clone3`` answers ``ENOSYS`` so the C
library falls back to ``clone``, whose flags the filter can inspect. A call from another
architecture's ABI (32-bit ``int 0x80`` on x86-64, or x32) kills the process: its numbers differ
and would slip past the list.

No libseccomp is needed: the program is a few dozen ``struct sock_filter`` built here.
"""

from __future__ import annotations

import errno
import platform
import struct

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000


def _errno(code: int) -> int:
    return 0x00050000 | code


#: offsets in ``struct seccomp_data`` (little-endian: the low 32 bits of an argument come first)
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24
X32_BIT = 0x40000000
CLONE_NEW_FLAGS = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
                   | 0x00000080)  # NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET NEWTIME
TIOCSTI, TIOCLINUX = 0x5412, 0x541C

#: the same numbers on every architecture since Linux 5.1 (the "unified" range)
_UNIFIED = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
            "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
            "pidfd_getfd": 438, "mount_setattr": 442, "quotactl_fd": 443}

#: per architecture: the audit arch id, clone, clone3, ioctl, and the refused calls
ARCHES: dict[str, dict] = {
    "x86_64": {
        "audit": 0xC000003E, "clone": 56, "clone3": 435, "ioctl": 16, "x32": True,
        "deny": {"ptrace": 101, "syslog": 103, "personality": 135, "vhangup": 153, "pivot_root": 155,
                 "chroot": 161, "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
                 "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
                 "init_module": 175, "delete_module": 176, "quotactl": 179, "lookup_dcookie": 212,
                 "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272,
                 "perf_event_open": 298, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
                 "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
                 "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, **_UNIFIED},
    },
    "aarch64": {
        "audit": 0xC00000B7, "clone": 220, "clone3": 435, "ioctl": 29, "x32": False,
        "deny": {"lookup_dcookie": 18, "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51,
                 "vhangup": 58, "quotactl": 60, "acct": 89, "personality": 92, "unshare": 97,
                 "kexec_load": 104, "init_module": 105, "delete_module": 106, "syslog": 116, "ptrace": 117,
                 "reboot": 142, "sethostname": 161, "setdomainname": 162, "add_key": 217,
                 "request_key": 218, "keyctl": 219, "swapon": 224, "swapoff": 225, "perf_event_open": 241,
                 "name_to_handle_at": 264, "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270,
                 "process_vm_writev": 271, "kcmp": 272, "finit_module": 273, "bpf": 280, "userfaultfd": 282,
                 "kexec_file_load": 294, **_UNIFIED},
    },
}


def _ins(code: int, jt: int = 0, jf: int = 0, k: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def refused_calls(machine: str | None = None) -> list[str]:
    """The names of the calls the filter refuses outright on ``machine`` (for the README and tests)."""
    arch = ARCHES.get(machine or platform.machine())
    return sorted(arch["deny"]) if arch else []


def program(machine: str | None = None) -> bytes | None:
    """The filter for ``machine`` (default: this one) as raw ``sock_filter`` bytes; None where the
    architecture is not known (the sandbox then runs without one and says so)."""
    arch = ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    eperm = _errno(errno.EPERM)
    out = [_ins(_LD_W_ABS, k=_ARCH), _ins(_JEQ, 1, 0, arch["audit"]), _ins(_RET, k=RET_KILL_PROCESS),
           _ins(_LD_W_ABS, k=_NR)]
    if arch["x32"]:
        out += [_ins(_JGE, 0, 1, X32_BIT), _ins(_RET, k=RET_KILL_PROCESS)]
    for number in sorted(arch["deny"].values()):
        out += [_ins(_JEQ, 0, 1, number), _ins(_RET, k=eperm)]
    out += [_ins(_JEQ, 0, 1, arch["clone3"]), _ins(_RET, k=_errno(errno.ENOSYS))]
    # ioctl: refuse terminal injection, allow the rest (the command is an unsigned int: low 32 bits)
    out += [_ins(_JEQ, 0, 5, arch["ioctl"]), _ins(_LD_W_ABS, k=_ARG1), _ins(_JEQ, 2, 0, TIOCSTI),
            _ins(_JEQ, 1, 0, TIOCLINUX), _ins(_RET, k=RET_ALLOW), _ins(_RET, k=eperm)]
    # clone: refuse any new namespace (the last check: it overwrites the accumulator)
    out += [_ins(_JEQ, 0, 3, arch["clone"]), _ins(_LD_W_ABS, k=_ARG0), _ins(_JSET, 0, 1, CLONE_NEW_FLAGS),
            _ins(_RET, k=eperm), _ins(_RET, k=RET_ALLOW)]
    return b"".join(out)
