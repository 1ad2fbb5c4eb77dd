"""A generic JSON-RPC 2.0 server over NDJSON stdio (docs/PROTOCOL.md §1-3).

It knows the protocol and its lifecycle, nothing of what the methods do. Shape:

- one reader task, which never waits for a request to finish (only for `initialize`, which
  is handled in order). Every line is read and routed at once, so control messages
  (`$/cancelRequest`, `shutdown`, `exit`) act at once even when every slot is busy;
- a request runs in its own task, inside its own cancel scope, when fewer than
  `max_concurrent_requests` run; otherwise it waits in a FIFO queue and starts when a
  running request finishes. Only while that queue holds `max_queued_requests` requests or
  `max_queued_bytes` bytes of input lines does the reader stop reading (backpressure). A
  line read is always admitted whole, so the queue can pass its bounds by one line; a
  line's bytes count once, while any of its requests (a batch's members) still waits;
- a queued request is "in flight" for duplicate ids and `shutdown` (which waits for it);
  cancelling it (`$/cancelRequest`, or a stop) answers it `-32800` at once and it is never
  started. `shutdown` itself takes no slot;
- every request takes the same path (`_run_request`): routed, called, encoded, delivered.
  The one per-method choice is where: a method the application declares inline never
  waits, so the reader runs it itself instead of starting a task (a `$/cancelRequest` can
  only find it finished; a task would cost more);
- one writer task, fed by a memory stream, so responses are never interleaved;
- watchers for SIGTERM/SIGINT and for the host closing our stdout.

Stopping: EOF lets received requests (running and queued) finish; `exit`, a signal or a
closed stdout cancel them: queued ones are answered `-32800` unstarted, running ones once
their shielded clean-up has been awaited, within `stop_grace_seconds`, after which the
process is ended regardless.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import inspect
import json
import logging
import os
import signal
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wfcompute_container.rpc import errors
from wfcompute_container.rpc.envelope import (
    InvalidMessage,
    Notification,
    Request,
    RequestId,
    decode_line,
    id_key,
    is_valid_id,
    read_message,
)
from wfcompute_container.rpc.errors import RpcError
from wfcompute_container.rpc.framing import NEED_INPUT, LineReader, LineWriter, OversizedLine
from wfcompute_container.rpc.limits import (
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_MESSAGE_BYTES,
)

# Re-exported: the process set-up that goes with `serve` (they live beside the transport).
from wfcompute_container.rpc.stdio import protect_stdin as protect_stdin
from wfcompute_container.rpc.stdio import protect_stdout as protect_stdout

Handler = Callable[[Any], Awaitable[Any] | Any]
"""Receives the raw params (a dict, or None when absent); returns a JSON-ready value, or an
awaitable of one. An inline method's handler returns the value itself."""

InlineLookup = Callable[[str], bool]
"""Whether a method is inline: its handler returns at once, without blocking (no I/O, no
waiting), so the reader calls it instead of starting a task."""


def _no_inline(method: str) -> bool:
    return False


Encoder = Callable[[Any], bytes]
"""A JSON value as one line's bytes (no newline); raises TypeError or ValueError for a value
it cannot encode. The application chooses the JSON dialect; the engine only frames it."""


def plain_json(value: Any) -> bytes:
    """The default encoder: compact UTF-8 JSON, refusing NaN and infinities."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


ParamsCheck = Callable[[Any], None]
"""Checks a request's params at once; raises RpcError to refuse the request."""


def _accept_params(params: Any) -> None:
    return None


_DEFAULT_LOG = logging.getLogger("wfcompute_container.rpc")

# Methods the engine owns. `exit` and `$/cancelRequest` are notifications only.
INITIALIZE = "initialize"
SHUTDOWN = "shutdown"
EXIT = "exit"
CANCEL_REQUEST = "$/cancelRequest"
_NOTIFICATION_ONLY = frozenset({EXIT, CANCEL_REQUEST})

_COALESCE_BYTES = 64 * 1024


@dataclass(frozen=True)
class EngineConfig:
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    max_queued_requests: int = 256
    """Requests waiting for a slot before stdin is no longer read."""
    max_queued_bytes: int = 64 * 1024 * 1024
    """Bytes of input lines whose requests wait for a slot before stdin is no longer read."""
    answer_memory_bytes: int = 0
    """Answer memory handlers may reserve (``reserve_answer_memory``); 0: four times
    ``max_message_bytes``."""
    stop_grace_seconds: float = 9.0
    """After exit/signal/closed stdout, how long cancelled handlers get to clean up before
    the process is ended anyway (PROTOCOL.md promises an exit within 10 s)."""
    on_stop: Callable[[float], None] | None = None
    """Called once, on the event loop, when a stop begins, with ``stop_grace_seconds``: the
    application bounds its clean-up by it, so cancelled requests still get their answer."""

    def __post_init__(self) -> None:
        if self.max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be positive, got {self.max_message_bytes}")
        for name in ("max_concurrent_requests", "max_queued_requests", "max_queued_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class RequestInfo(NamedTuple):
    """The request a handler is answering (``current_request``); a tuple because one is made
    for every request."""

    id: RequestId
    method: str


_current_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "wfcompute_rpc_current_request", default=None
)


def current_request() -> RequestInfo | None:
    """The request whose handler is running in this task (for log lines and names)."""
    return _current_request.get()


_answer_reserver: contextvars.ContextVar[Callable[[int], Awaitable[None]] | None] = (
    contextvars.ContextVar("wfcompute_rpc_answer_reserver", default=None)
)


async def reserve_answer_memory(nbytes: int) -> None:
    """Wait until ``nbytes`` of the server's answer memory is free, and hold it until this
    request's answer line has been written to stdout.

    A handler about to bring a large result into memory (a run's spooled output) calls this
    first, so many large answers finishing at once are built and written a few at a time
    instead of all at once. Outside a served request it returns at once.
    """
    reserve = _answer_reserver.get()
    if reserve is not None:
        await reserve(nbytes)


class _ByteBudget:
    """Bytes handed out first come, first served; a request above the capacity gets all of it."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.available = capacity
        self._waiters: deque[tuple[int, anyio.Event]] = deque()

    async def acquire(self, nbytes: int) -> int:
        wanted = max(0, min(nbytes, self.capacity))
        if not self._waiters and self.available >= wanted:
            self.available -= wanted
            return wanted
        ready = anyio.Event()
        self._waiters.append((wanted, ready))
        try:
            await ready.wait()
        except BaseException:
            if (wanted, ready) in self._waiters:
                self._waiters.remove((wanted, ready))
            elif ready.is_set():
                self.release(wanted)  # granted just as we were cancelled
            raise
        return wanted

    def release(self, nbytes: int) -> None:
        self.available += nbytes
        while self._waiters and self._waiters[0][0] <= self.available:
            wanted, ready = self._waiters.popleft()
            self.available -= wanted
            ready.set()


class _Phase(enum.Enum):
    UNINITIALIZED = "uninitialized"
    READY = "ready"
    SHUT_DOWN = "shut down"


Deliver = Callable[[bytes], Awaitable[None]]
"""Where one encoded response goes: straight to the writer, or into a batch reply."""


@dataclass(eq=False)
class _Line:
    """One input line's size, counted against `max_queued_bytes` while any of its requests
    waits in the queue."""

    size: int
    waiting: int = 0


@dataclass(eq=False, slots=True)
class _InFlight:
    """A received request not yet answered: queued, running in its own task, or (inline)
    running on the reader."""

    request: Request
    handler: Handler
    deliver: Deliver
    line: _Line
    inline: bool = False
    """Runs on the reader: it never waits, so nothing can cancel it and it needs no scope (a
    cancel scope costs more to make and enter than a small request costs to answer)."""
    scope: anyio.CancelScope | None = None
    """Made when the request is admitted to run as a task."""
    cancel_reason: str = "request cancelled"
    holds_slot: bool = False
    queued: bool = False
    finished: bool = False
    reserved: int = 0
    """Answer memory this request holds until its answer line is written."""
    # Made only when something waits for this request (initialize, shutdown): creating an
    # Event for every request is a measurable share of a small request's cost.
    _done: anyio.Event | None = None

    async def wait_done(self) -> None:
        if self.finished:
            await anyio.lowlevel.checkpoint()  # as Event.wait does when already set
            return
        if self._done is None:
            self._done = anyio.Event()
        await self._done.wait()

    def mark_done(self) -> None:
        self.finished = True
        if self._done is not None:
            self._done.set()


@dataclass(frozen=True)
class _Dispatch:
    request: Request
    handler: Handler


class _BatchReply:
    """Collects the responses of one batch and sends them as one array, in batch order."""

    def __init__(self, send: Deliver) -> None:
        self._send = send
        self._parts: dict[int, bytes] = {}
        self._pending = 0
        self._sealed = False
        self._sent = False

    def expect(self) -> None:
        self._pending += 1

    def add(self, index: int, encoded: bytes) -> None:
        self._parts[index] = encoded

    def deliverer(self, index: int) -> Deliver:
        async def deliver(encoded: bytes) -> None:
            self._parts[index] = encoded
            self._pending -= 1
            await self._flush_when_complete()

        return deliver

    async def seal(self) -> None:
        self._sealed = True
        await self._flush_when_complete()

    async def _flush_when_complete(self) -> None:
        if not self._sealed or self._pending or self._sent:
            return
        self._sent = True
        if self._parts:  # a batch of notifications only gets no answer at all
            body = b",".join(self._parts[i] for i in sorted(self._parts))
            await self._send(b"[" + body + b"]")


def _response(request_id: RequestId | None, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error_response(request_id: RequestId | None, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_wire()}


def _only_rpc_error(group: BaseExceptionGroup[Any]) -> RpcError | None:
    """The RpcError a handler's task group wrapped, when that is all the group holds."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    if leaves and all(isinstance(exc, RpcError) for exc in leaves):
        first = leaves[-1]
        assert isinstance(first, RpcError)
        return first
    return None


class _Engine:
    def __init__(
        self,
        handlers: Mapping[str, Handler],
        initialize: Handler,
        config: EngineConfig,
        reader: LineReader,
        writer: LineWriter,
        log: logging.Logger,
        inline: InlineLookup = _no_inline,
        check_shutdown: ParamsCheck = _accept_params,
        encode: Encoder = plain_json,
    ) -> None:
        self._handlers = handlers
        self._encode_json = encode
        self._inline_methods: dict[str, bool] = {}  # the answers of `inline`, per method
        self._inline = inline
        self._check_shutdown = check_shutdown
        self._initialize = initialize
        self._config = config
        self._reader = reader
        self._writer = writer
        self._log = log
        self._phase = _Phase.UNINITIALIZED
        self._inflight: dict[tuple[bool, RequestId], _InFlight] = {}
        self._running = 0  # requests holding a slot
        self._queue: deque[_InFlight] = deque()
        self._queued_bytes = 0
        self._room: anyio.Event | None = None  # set when the queue has room again
        self._stopping = False
        self._stop_reason = ""
        self._exit_status = 0
        self._signals_seen = 0
        self._stdout_closed = False
        self._wait_scopes: set[anyio.CancelScope] = set()
        self._watchdog: threading.Timer | None = None
        self._writer_done = anyio.Event()
        self._requests_tg: TaskGroup | None = None
        self._out: MemoryObjectSendStream[bytes] | None = None
        self._answer_budget = _ByteBudget(
            config.answer_memory_bytes or 4 * config.max_message_bytes
        )
        self._lines_sent = 0  # lines handed to the writer
        self._lines_written = 0  # of those, written (or dropped: stdout gone)
        self._written: anyio.Event = anyio.Event()

    # ----- top level -------------------------------------------------------------------

    async def run(self) -> int:
        send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=64)
        self._out = send
        try:
            async with anyio.create_task_group() as services:
                services.start_soon(self._write_loop, receive)
                services.start_soon(self._watch_signals)
                services.start_soon(self._watch_stdout_reader)
                async with anyio.create_task_group() as requests_tg:
                    self._requests_tg = requests_tg
                    await self._read_loop()
                # Every request has finished and queued its answer: let the writer drain.
                await send.aclose()
                await self._writer_done.wait()
                services.cancel_scope.cancel()
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
        self._log.debug(
            "stopped (%s); exit status %d", self._stop_reason or "EOF", self._exit_status
        )
        return self._exit_status

    def _stop(self, status: int, reason: str) -> None:
        """Stop reading and cancel every in-flight request (first reason wins)."""
        if self._stopping:
            return
        self._stopping = True
        self._exit_status = status
        self._stop_reason = reason
        for scope in list(self._wait_scopes):
            scope.cancel()
        if self._inflight:
            self._log.info("%s: cancelling %d in-flight request(s)", reason, len(self._inflight))
        grace = self._config.stop_grace_seconds
        if self._config.on_stop is not None:
            self._config.on_stop(grace)
        for entry in list(self._inflight.values()):
            self._cancel(entry, f"request cancelled: {reason}")
        self._watchdog = threading.Timer(
            grace, self._hard_exit, args=(f"still running {grace:g} s after {reason}",)
        )
        self._watchdog.daemon = True
        self._watchdog.start()

    def _hard_exit(self, why: str) -> None:
        """End the process now (also called from the watchdog thread)."""
        try:
            stuck = sorted({entry.request.method for entry in list(self._inflight.values())})
            self._log.error(
                "exiting without waiting for in-flight requests (%s) to finish their clean-up: %s",
                ", ".join(stuck) or "none",
                why,
            )
            self._reader.close()
            self._writer.close()
        finally:
            os._exit(self._exit_status)

    async def _interruptible(self, wait: Callable[[], Awaitable[Any]]) -> bool:
        """Await `wait()`; False when a stop interrupted it (or had already begun)."""
        if self._stopping:
            return False
        with anyio.CancelScope() as scope:
            self._wait_scopes.add(scope)
            try:
                await wait()
                return True
            finally:
                self._wait_scopes.discard(scope)
        return False

    # ----- slots and the queue --------------------------------------------------------

    def _queue_full(self) -> bool:
        return (
            len(self._queue) >= self._config.max_queued_requests
            or self._queued_bytes >= self._config.max_queued_bytes
        )

    async def _wait_for_room(self) -> bool:
        """Wait until the queue may take another line; False when stopping."""
        while self._queue_full():
            self._room = anyio.Event()
            if not await self._interruptible(self._room.wait):
                return False
        return not self._stopping

    def _admit(self, entry: _InFlight) -> None:
        """Start a received request now, or queue it until a slot frees."""
        entry.scope = anyio.CancelScope()
        self._inflight[id_key(entry.request.id)] = entry
        if entry.request.method == SHUTDOWN:  # a control message: it takes no slot
            self._start(entry)
        elif self._running < self._config.max_concurrent_requests:
            entry.holds_slot = True
            self._running += 1
            self._start(entry)
        else:
            entry.queued = True
            self._queue.append(entry)
            entry.line.waiting += 1
            if entry.line.waiting == 1:
                self._queued_bytes += entry.line.size

    def _unqueue(self, entry: _InFlight) -> None:
        entry.queued = False
        self._queue.remove(entry)
        entry.line.waiting -= 1
        if entry.line.waiting == 0:
            self._queued_bytes -= entry.line.size
        if self._room is not None and not self._queue_full():
            self._room.set()

    def _release_slot(self) -> None:
        """A running request finished: the next queued one takes its slot."""
        self._running -= 1
        if self._queue:
            entry = self._queue[0]
            self._unqueue(entry)
            entry.holds_slot = True
            self._running += 1
            self._start(entry)

    def _cancel(self, entry: _InFlight, reason: str) -> None:
        """Cancel a request; a queued one leaves the queue and is answered unstarted."""
        entry.cancel_reason = reason
        assert entry.scope is not None  # only admitted requests are in flight
        entry.scope.cancel()
        if entry.queued:
            self._unqueue(entry)
            self._start(entry)  # without a slot: `_call` answers it -32800 unstarted

    # ----- output ----------------------------------------------------------------------

    async def _write_loop(self, receive: MemoryObjectReceiveStream[bytes]) -> None:
        try:
            async with receive:
                async for line in receive:
                    if self._stdout_closed:
                        self._count_written(1)
                        continue  # keep draining so no sender ever blocks on a dead stdout
                    data, count = self._with_ready_lines(line, receive)
                    try:
                        await self._writer.write(data)
                    except OSError as exc:
                        self._stdout_closed = True
                        self._log.warning("stdout is no longer writable (%s)", exc.strerror or exc)
                        self._stop(0, "stdout closed by the host")
                    finally:
                        self._count_written(count)
        finally:
            self._writer_done.set()

    @staticmethod
    def _with_ready_lines(
        first: bytes, receive: MemoryObjectReceiveStream[bytes]
    ) -> tuple[bytes, int]:
        """`first` and the messages already queued behind it, as one write (fewer syscalls;
        no message waits for another), and how many lines that is."""
        lines = [first]
        size = len(first)
        while size < _COALESCE_BYTES:
            try:
                line = receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
            lines.append(line)
            size += len(line)
        count = len(lines)
        lines.append(b"")
        return b"\n".join(lines), count

    async def _send(self, encoded: bytes) -> None:
        assert self._out is not None
        await self._out.send(encoded)
        self._lines_sent += 1

    async def _deliver(self, encoded: bytes) -> None:
        """A finished request's answer, queued for the writer without a detour through the
        event loop when the queue has room (backpressure still applies when it has not)."""
        assert self._out is not None
        try:
            self._out.send_nowait(encoded)
        except anyio.WouldBlock:
            await self._out.send(encoded)
        self._lines_sent += 1

    def _count_written(self, lines: int) -> None:
        self._lines_written += lines
        self._written.set()
        self._written = anyio.Event()

    async def _wait_written(self, line: int) -> None:
        """Until the writer has dealt with the ``line``-th line sent (or stopped)."""
        while self._lines_written < line and not self._writer_done.is_set():
            written = self._written
            with anyio.move_on_after(1.0):  # re-checks writer_done now and then
                await written.wait()

    async def _reserve(self, entry: _InFlight, nbytes: int) -> None:
        entry.reserved += await self._answer_budget.acquire(nbytes)

    async def _send_error(self, request_id: RequestId | None, error: RpcError) -> None:
        await self._send(self._encode_json(_error_response(request_id, error)))

    # ----- watchers --------------------------------------------------------------------

    async def _watch_signals(self) -> None:
        signals = contextlib.ExitStack()
        try:
            received = signals.enter_context(
                anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT)
            )
        except (ValueError, RuntimeError, NotImplementedError) as exc:
            # Only the main thread can receive signals; an embedded engine does without.
            self._log.debug("not watching signals: %s", exc)
            return
        with signals:
            async for signum in received:
                name = signal.Signals(signum).name
                self._signals_seen += 1
                if self._signals_seen > 1:
                    self._hard_exit(f"second {name} while stopping")
                self._log.info("received %s", name)
                self._stop(0, f"server stopping on {name}")

    async def _watch_stdout_reader(self) -> None:
        await self._writer.wait_reader_gone()
        self._stdout_closed = True
        self._log.warning("the host closed our stdout")
        self._stop(0, "stdout closed by the host")

    # ----- input -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while True:
            # Backpressure: read nothing more while the queue is full.
            if not await self._wait_for_room():
                return
            event = self._reader.buffered_line()
            if event is NEED_INPUT:

                async def read_next() -> None:
                    nonlocal event
                    event = await self._reader.next_line()

                if not await self._interruptible(read_next):
                    return
            assert event is not NEED_INPUT
            if event is None:
                self._log.debug(
                    "end of input; finishing %d in-flight request(s)", len(self._inflight)
                )
                return
            if isinstance(event, OversizedLine):
                await self._send_error(
                    None,
                    errors.invalid_request(f"message exceeds max_message_bytes ({event.limit})"),
                )
                continue
            try:
                value = decode_line(event)
            except RpcError as exc:
                await self._send_error(None, exc)
                continue
            line = _Line(len(event))
            if isinstance(value, list):
                await self._process_batch(value, line)
            else:
                await self._process_single(value, line)

    async def _process_single(self, value: Any, line: _Line) -> None:
        route = self._route(value)
        if isinstance(route, _Dispatch):
            await self._dispatch(_InFlight(route.request, route.handler, self._deliver, line))
        elif route is not None:
            await self._send(route)

    async def _process_batch(self, values: list[Any], line: _Line) -> None:
        """Each member is routed and admitted as a single message would be; the answers
        go back as one array once every member has been answered."""
        if not values:
            await self._send_error(None, errors.invalid_request("empty batch"))
            return
        reply = _BatchReply(self._send)
        for index, value in enumerate(values):
            route = self._route(value)
            if isinstance(route, _Dispatch):
                reply.expect()
                deliver = reply.deliverer(index)
                await self._dispatch(_InFlight(route.request, route.handler, deliver, line))
            elif route is not None:
                reply.add(index, route)
        await reply.seal()

    async def _dispatch(self, entry: _InFlight) -> None:
        """Run an inline request here on the reader, else admit it to run in a task
        (``initialize`` is waited for: nothing else is read before it is answered)."""
        if self._runs_inline(entry.request.method):
            entry.inline = True
            await self._run_request(entry)
            return
        self._admit(entry)
        if entry.request.method == INITIALIZE:
            await self._interruptible(entry.wait_done)

    def _runs_inline(self, method: str) -> bool:
        known = self._inline_methods.get(method)
        if known is not None:
            return known
        try:
            inline = method not in (INITIALIZE, SHUTDOWN) and self._inline(method)
        except Exception:  # run as a task: its call reports whatever made the lookup fail
            return False
        self._inline_methods[method] = inline
        return inline

    # ----- routing ---------------------------------------------------------------------

    def _route(self, value: Any) -> _Dispatch | bytes | None:
        """What to do with one message: dispatch it, answer it at once (encoded), or nothing."""
        message = read_message(value)
        if isinstance(message, InvalidMessage):
            return self._encode_json(_error_response(message.id, message.error))
        if isinstance(message, Notification):
            self._notify(message)
            return None
        request = message
        error = self._request_error(request)
        if error is not None:
            return self._encode_json(_error_response(request.id, error))
        if request.method == INITIALIZE:
            handler = self._initialize
        elif request.method == SHUTDOWN:
            # A shutdown refused for its params shuts nothing down.
            try:
                self._check_shutdown(request.params)
            except RpcError as refused:
                return self._encode_json(_error_response(request.id, refused))
            handler = self._shutdown_handler(request)
            self._phase = _Phase.SHUT_DOWN
        else:
            handler = self._handlers[request.method]
        return _Dispatch(request, handler)

    def _request_error(self, request: Request) -> RpcError | None:
        """The answer a request gets without reaching a handler, in check order."""
        method = request.method
        if id_key(request.id) in self._inflight:
            return errors.invalid_request(f"id {self._text(request.id)} is already in flight")
        if method in _NOTIFICATION_ONLY:
            return errors.invalid_request(f"{method} is a notification and must not have an id")
        if self._stopping:
            return errors.cancelled(f"request cancelled: {self._stop_reason}")
        if self._phase is _Phase.SHUT_DOWN:
            return errors.invalid_request("server is shut down")
        if self._phase is _Phase.UNINITIALIZED and method != INITIALIZE:
            return errors.not_initialized()
        if method == INITIALIZE and self._phase is _Phase.READY:
            return errors.invalid_request("server already initialized")
        if method not in (INITIALIZE, SHUTDOWN) and method not in self._handlers:
            return errors.method_not_found(method)
        if isinstance(request.params, list):
            return errors.invalid_params(
                [{"path": "", "message": "params must be an object (by name), not an array"}]
            )
        return None

    def _notify(self, message: Notification) -> None:
        if message.method == EXIT:
            status = 0 if self._phase is _Phase.SHUT_DOWN else 1
            self._log.debug("exit notification; exit status %d", status)
            self._stop(status, "exit notification")
        elif message.method == CANCEL_REQUEST:
            self._cancel_request(message.params)
        else:
            self._log.debug("ignoring notification %s", self._text(message.method))

    def _cancel_request(self, params: Any) -> None:
        target = params.get("id") if isinstance(params, dict) else None
        if not isinstance(target, int | str) or not is_valid_id(target):
            self._log.debug("ignoring $/cancelRequest without a valid params.id")
            return
        entry = self._inflight.get(id_key(target))
        if entry is None:
            self._log.debug("ignoring $/cancelRequest for id %s: not in flight", self._text(target))
            return
        state = "queued" if entry.queued else "running"
        self._log.debug(
            "cancelling %s request %s (%s)", state, self._text(target), entry.request.method
        )
        self._cancel(entry, entry.cancel_reason)

    def _shutdown_handler(self, shutdown: Request) -> Handler:
        hook = self._handlers.get(SHUTDOWN)

        async def shutdown_when_idle(params: Any) -> Any:
            # No request is admitted after this point, so these (running or queued) are all
            # that remain.
            others = [e for e in self._inflight.values() if e.request is not shutdown]
            for entry in others:
                await entry.wait_done()
            return None if hook is None else await hook(params)

        return shutdown_when_idle

    # ----- running a request -----------------------------------------------------------

    def _start(self, entry: _InFlight) -> None:
        """Run a request in its own task (one cancelled before it started is only answered)."""
        assert self._requests_tg is not None
        self._requests_tg.start_soon(self._run_request, entry)

    async def _run_request(self, entry: _InFlight) -> None:
        request = entry.request
        # An inline request was never in flight (its id is free as soon as it is answered).
        key = None if entry.inline else id_key(request.id)
        line: int | None = None  # which line sent to the writer is this request's answer
        try:
            response = await self._call(entry)
            encoded, as_given = self._encode(request, response)
            if request.method == INITIALIZE and as_given and "result" in response:
                self._phase = _Phase.READY
            del response
            # Forget the id before answering: a host may reuse it as soon as it has the answer.
            if key is not None:
                self._inflight.pop(key, None)
            await entry.deliver(encoded)
            line = self._lines_sent
            del encoded
        finally:
            if key is not None:
                self._inflight.pop(key, None)
            if entry.holds_slot:
                entry.holds_slot = False
                self._release_slot()
            entry.mark_done()
            if entry.reserved:
                await self._release_when_written(entry, line)

    async def _release_when_written(self, entry: _InFlight, line: int | None) -> None:
        """Give back the answer memory once the answer is out (at once when it never was)."""
        try:
            if line is not None:
                with anyio.CancelScope(shield=True):
                    await self._wait_written(line)
        finally:
            reserved, entry.reserved = entry.reserved, 0
            self._answer_budget.release(reserved)

    async def _call(self, entry: _InFlight) -> dict[str, Any]:
        request = entry.request
        scope = entry.scope
        if scope is not None and scope.cancel_called:
            # Cancelled before it started: don't start it at all.
            return _error_response(request.id, errors.cancelled(entry.cancel_reason))
        token = _current_request.set(RequestInfo(request.id, request.method))
        # An inline handler cannot await, so it cannot reserve answer memory either.
        reserver = None if entry.inline else _answer_reserver.set(partial(self._reserve, entry))
        try:
            if scope is None:  # inline: the handler's value is the answer
                return _response(request.id, entry.handler(request.params))
            with scope:
                result = entry.handler(request.params)
                if inspect.isawaitable(result):
                    result = await result
                return _response(request.id, result)
            # Only reached when the scope caught its own cancellation.
            return _error_response(request.id, errors.cancelled(entry.cancel_reason))
        except RpcError as exc:
            return _error_response(request.id, exc)
        except Exception as exc:
            wrapped = _only_rpc_error(exc) if isinstance(exc, BaseExceptionGroup) else None
            if wrapped is not None:
                return _error_response(request.id, wrapped)
            return self._internal_error(request, exc, "the handler raised")
        finally:
            if reserver is not None:
                _answer_reserver.reset(reserver)
            _current_request.reset(token)

    def _text(self, value: Any) -> str:
        """A value as the encoder writes it, for messages and logs."""
        return self._encode_json(value).decode("utf-8", errors="replace")

    def _encode(self, request: Request, response: dict[str, Any]) -> tuple[bytes, bool]:
        """The response's line, and False when it had to be replaced by an internal error."""
        try:
            return self._encode_json(response), True
        except (TypeError, ValueError, RecursionError) as exc:
            fallback = self._internal_error(request, exc, "the handler's result is not JSON")
            return self._encode_json(fallback), False

    def _internal_error(self, request: Request, exc: BaseException, what: str) -> dict[str, Any]:
        """Log the traceback under a fresh error_id; only the id goes on the wire."""
        error_id = errors.new_error_id()
        self._log.error(
            "internal error (error_id=%s) in %s, id %s: %s",
            error_id,
            request.method,
            self._text(request.id),
            what,
            exc_info=exc,
        )
        return _error_response(request.id, errors.internal_error(error_id))


async def serve(
    handlers: Mapping[str, Handler],
    *,
    initialize: Handler,
    config: EngineConfig,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    log: logging.Logger | None = None,
    inline: InlineLookup = _no_inline,
    check_shutdown: ParamsCheck = _accept_params,
    encode: Encoder = plain_json,
) -> int:
    """Serve until EOF/exit/signal; return the process exit status.

    `handlers` maps method names to handlers. `initialize` answers `initialize`; the engine
    owns `shutdown` (a `"shutdown"` entry in `handlers`, if any, runs once the other
    requests have finished, and its result is the answer), `exit` and `$/cancelRequest`.
    Cancellation reaches a handler as anyio cancellation: clean up in `finally` under
    `anyio.CancelScope(shield=True)`. `inline` says which methods' handlers are called on
    the reader instead of in a task (asked once per method; a lookup that raises is asked
    again next time, and the request runs as a task).
    `check_shutdown` validates `shutdown`'s params before the server is marked shut down.
    `encode` writes every response (the application's JSON rules; plain JSON by default).
    """
    reader = LineReader(stdin_fd, config.max_message_bytes)
    writer = LineWriter(stdout_fd)
    try:
        engine = _Engine(
            handlers,
            initialize,
            config,
            reader,
            writer,
            log or _DEFAULT_LOG,
            inline,
            check_shutdown,
            encode,
        )
        return await engine.run()
    finally:
        reader.close()
        writer.close()
