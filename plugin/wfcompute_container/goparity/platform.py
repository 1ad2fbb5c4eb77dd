"""This machine as Go names it (``runtime.GOOS``, ``runtime.GOARCH``): reports and managed
bundle targets use Go's names."""

from __future__ import annotations

import platform

_GO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
    "armv7l": "arm",
    "armv6l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def go_os() -> str:
    return platform.system().lower() or "unknown"


def go_arch() -> str:
    machine = platform.machine().lower()
    return _GO_ARCH.get(machine, machine or "unknown")
