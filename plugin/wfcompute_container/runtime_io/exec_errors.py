"""Go ``os/exec`` error texts, which the reference puts into its error messages."""

from __future__ import annotations

import signal

# Go's syscall.Signal.String() for the signals a container client can die of.
_GO_SIGNAL_NAMES: dict[int, str] = {
    signal.SIGHUP: "hangup",
    signal.SIGINT: "interrupt",
    signal.SIGQUIT: "quit",
    signal.SIGILL: "illegal instruction",
    signal.SIGTRAP: "trace/breakpoint trap",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGKILL: "killed",
    signal.SIGUSR1: "user defined signal 1",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGUSR2: "user defined signal 2",
    signal.SIGPIPE: "broken pipe",
    signal.SIGALRM: "alarm clock",
    signal.SIGTERM: "terminated",
}


class ExecError(Exception):
    """A tool run that did not end with exit status 0, worded as Go's exec package does."""

    exit_code: int = -1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ExitError(ExecError):
    """The tool exited with a non-zero status (``exit status <n>``)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"exit status {status}")
        self.exit_code = status


class SignalError(ExecError):
    """The tool was ended by a signal (``signal: killed``); Go reports exit code -1."""

    def __init__(self, signum: int) -> None:
        name = _GO_SIGNAL_NAMES.get(signum, f"signal {signum}")
        super().__init__(f"signal: {name}")
        self.signum = signum


class ToolNotFound(ExecError):
    """The tool is not on PATH."""

    def __init__(self, name: str) -> None:
        super().__init__(f'exec: "{name}": executable file not found in $PATH')
        self.name = name


class StartError(ExecError):
    """The tool exists but could not be started (permission denied, bad interpreter...)."""


def error_for_returncode(returncode: int) -> ExecError | None:
    """The Go exec error for a finished process (``asyncio`` returncode convention)."""
    if returncode == 0:
        return None
    if returncode < 0:
        return SignalError(-returncode)
    return ExitError(returncode)
