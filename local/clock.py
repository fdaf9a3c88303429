"""A controllable clock for the local cloud, and the patches that make moto's Step Functions obey it.

A booking lives for hours or days: Wait states until the navigation lead time, Retry back-offs while a
car wakes up, task tokens that expire after an hour. ``VirtualClock`` lets the local cloud run that in
real time, faster (``scaled(60)``: one real second is one virtual minute) or, for tests, ``instant``:
every sleep returns at once and moves virtual time forward by the amount slept.

Three kinds of waiting, and how each mode treats them:

* **Sleeps** (ASL Wait states, Retry intervals, ``VirtualClock.sleep``): real/scaled modes block for
  ``seconds / factor`` real seconds (cut short by ``advance``); instant mode jumps virtual time to the
  end of the sleep and returns.
* **Waits for something else, with a timeout** (task tokens' TimeoutSeconds and HeartbeatSeconds, a
  task's TimeoutSeconds, an execution's TimeoutSeconds): they end when the awaited thing happens or when
  *virtual* time passes the deadline. In instant mode virtual time only moves when something sleeps or
  someone calls ``advance``, so a test decides when a one-hour token timeout fires
  (``clock.advance(3600)``) instead of racing it. ``pending_deadlines()`` shows the timers the engine
  is blocked on; ``advance_to_next_deadline()`` fires the earliest.
* **Reading the time** (``now``): handlers get it through ``driveway_hub.clock.utcnow`` once the clock
  is installed.

Virtual time is one timeline for the whole process: a Wait in one execution also moves time for every
other execution. Instant mode "jumps to the deadline" rather than "adds the amount", so two executions
that each wait an hour at the same moment move the clock by one hour, not two.

``install()`` patches moto's vendored Step Functions engine (LocalStack's ASL interpreter). It touches
private internals of the pinned moto version; every patched name is checked first, and a moved or
renamed internal raises ``MotoInternalsChanged`` naming it rather than silently sleeping in real time.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from driveway_hub.clock import set_time_source

LOG = logging.getLogger(__name__)

_MICROS_PER_SECOND = 1_000_000

# A ClockEvent wait whose real timeout is unbounded (instant mode, or a paused clock) still wakes up this
# often to re-check. Nothing should depend on it: advance() and set() notify waiters directly. It only
# bounds the damage of a wake-up lost to a bug.
_SAFETY_RECHECK_SECONDS = 5.0

# How often a sleep that may be interrupted by an event we do not own (a plain threading.Event of moto's)
# re-checks the virtual clock: such an event cannot be notified by advance().
_FOREIGN_EVENT_POLL_SECONDS = 0.05

_PINNED_MOTO = "5.2.5"


class MotoInternalsChanged(RuntimeError):
    """A moto internal that the clock patches is missing or changed shape (moto was upgraded?)."""


class EventLike(Protocol):
    """What the clock needs from an interrupt event: threading.Event and ClockEvent both fit."""

    def wait(self, timeout: float | None = None) -> bool: ...

    def is_set(self) -> bool: ...


class VirtualClock:
    """A process-wide "now" that can run at real speed, faster, or jump (instant mode).

    Virtual time is kept as integer microseconds since ``start`` so that jumping to a deadline lands
    exactly on it (float seconds would leave a remainder of a few ulps and a sleep loop that never ends).
    """

    def __init__(self, *, factor: float = 1.0, instant: bool = False, start: datetime | None = None) -> None:
        if factor < 0:
            raise ValueError("factor must be >= 0 (0 freezes time between sleeps and advances)")
        if not instant and factor == 0:
            # A frozen clock whose sleeps do not jump would wait for a manual advance(); allowed, but say so.
            LOG.info("VirtualClock with factor 0 and instant=False: sleeps block until advance() is called")
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        self._start = start.astimezone(UTC)
        self._factor = factor
        self._instant = instant
        self._lock = threading.Lock()
        self._anchor_real_ns = time.monotonic_ns()
        self._offset_us = 0
        self._timers: set[_Timer] = set()
        self._moto_patches: list[_Patch] = []

    # ----------------------------------------------------------------------------------------- modes

    @classmethod
    def real(cls, start: datetime | None = None) -> VirtualClock:
        """Runs at wall-clock speed (starting from ``start``, by default the real now)."""
        return cls(factor=1.0, start=start)

    @classmethod
    def scaled(cls, factor: float, start: datetime | None = None) -> VirtualClock:
        """``factor`` virtual seconds per real second; sleeps take ``seconds / factor`` real seconds."""
        if factor <= 0:
            raise ValueError("a scaled clock needs factor > 0")
        return cls(factor=factor, start=start)

    @classmethod
    def instant(cls, start: datetime | None = None, factor: float = 0.0) -> VirtualClock:
        """For tests: sleeps return at once and move time forward by the amount slept.

        By default time is frozen between sleeps and advances (``factor=0``), so tests are deterministic;
        pass ``factor=1`` to let it also flow with real time.
        """
        return cls(factor=factor, instant=True, start=start)

    @property
    def factor(self) -> float:
        return self._factor

    @property
    def is_instant(self) -> bool:
        return self._instant

    @property
    def start(self) -> datetime:
        return self._start

    # ------------------------------------------------------------------------------------------ time

    def _now_us_locked(self) -> int:
        real_elapsed_ns = time.monotonic_ns() - self._anchor_real_ns
        return self._offset_us + int(self._factor * real_elapsed_ns / 1000)

    def _now_us(self) -> int:
        with self._lock:
            return self._now_us_locked()

    def now(self) -> datetime:
        """The virtual now, as an aware UTC datetime."""
        return self._start + timedelta(microseconds=self._now_us())

    def elapsed(self) -> timedelta:
        """Virtual time since ``start``."""
        return timedelta(microseconds=self._now_us())

    def advance(self, seconds: float) -> datetime:
        """Move virtual time forward by ``seconds`` and wake every waiter whose deadline has passed."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset_us += round(seconds * _MICROS_PER_SECOND)
        self._notify_waiters()
        return self.now()

    def advance_to(self, when: datetime) -> datetime:
        """Move virtual time forward to ``when`` (no-op if it is already later)."""
        if when.tzinfo is None:
            raise ValueError("when must be an aware datetime")
        target_us = _to_micros(when - self._start)
        self._advance_to_us(target_us)
        return self.now()

    def _advance_to_us(self, target_us: int) -> None:
        with self._lock:
            current_us = self._now_us_locked()
            if target_us <= current_us:
                return
            self._offset_us += target_us - current_us
        self._notify_waiters()

    # ---------------------------------------------------------------------------------------- waiting

    def _real_timeout(self, remaining_us: int) -> float:
        """Real seconds to block for ``remaining_us`` of virtual time (capped: see the constant)."""
        if self._factor == 0:
            return _SAFETY_RECHECK_SECONDS
        return min(remaining_us / _MICROS_PER_SECOND / self._factor, _SAFETY_RECHECK_SECONDS)

    def event(self) -> ClockEvent:
        """A threading.Event look-alike whose ``wait(timeout)`` counts the timeout in virtual time."""
        return ClockEvent(self)

    def sleep(self, seconds: float, interrupt: EventLike | None = None) -> bool:
        """Sleep ``seconds`` of virtual time; return True if ``interrupt`` fired first.

        Instant mode jumps to the end of the sleep and returns False without looking at ``interrupt``:
        nothing can happen "during" a sleep that takes no real time.
        """
        deadline_us = self._now_us() + round(max(seconds, 0) * _MICROS_PER_SECOND)
        if self._instant:
            self._advance_to_us(deadline_us)
            return False
        if interrupt is None:
            # A private event nobody sets: its wait ends exactly at the virtual deadline.
            self.event().wait(seconds)
            return False
        if isinstance(interrupt, ClockEvent) and interrupt.clock is self:
            return interrupt.wait(seconds)
        while True:
            remaining_us = deadline_us - self._now_us()
            if remaining_us <= 0:
                return False
            if interrupt.wait(min(self._real_timeout(remaining_us), _FOREIGN_EVENT_POLL_SECONDS)):
                return True

    def sleep_until(self, when: datetime, interrupt: EventLike | None = None) -> bool:
        """Sleep until the virtual time ``when`` (returns at once if it has passed)."""
        return self.sleep((when - self.now()).total_seconds(), interrupt)

    def pending_deadlines(self) -> list[datetime]:
        """When the waits now blocked on this clock time out (task, heartbeat and execution timeouts,
        sleeps of a non-instant clock), earliest first. Lets a test fire "the next timer"."""
        with self._lock:
            deadlines_us = sorted(timer.deadline_us for timer in self._timers)
        return [self._start + timedelta(microseconds=deadline_us) for deadline_us in deadlines_us]

    def advance_to_next_deadline(self) -> datetime | None:
        """Advance to the earliest pending deadline still in the future; None if there is none."""
        now = self.now()
        upcoming = [deadline for deadline in self.pending_deadlines() if deadline > now]
        if not upcoming:
            return None
        return self.advance_to(upcoming[0])

    def _add_timer(self, timer: _Timer) -> None:
        with self._lock:
            self._timers.add(timer)

    def _remove_timer(self, timer: _Timer) -> None:
        with self._lock:
            self._timers.discard(timer)

    def _notify_waiters(self) -> None:
        # Snapshot under our lock, notify outside it: a waiter holds its event's condition while it reads
        # the clock (our lock), so taking the two in the other order here could deadlock.
        with self._lock:
            events = {timer.event for timer in self._timers}
        for event in events:
            event.wake()

    # ------------------------------------------------------------------------------ install/uninstall

    @property
    def is_installed(self) -> bool:
        return _installed_clock is self

    def install(self, *, patch_moto: bool = True) -> VirtualClock:
        """Become the time source of ``driveway_hub.clock`` and (by default) of moto's Step Functions.

        Only one clock can be installed at a time; patches apply to executions evaluated after this call.
        """
        global _installed_clock
        with _install_lock:
            if _installed_clock is self:
                return self
            if _installed_clock is not None:
                raise RuntimeError("another VirtualClock is installed; uninstall it first")
            patches = _moto_patches(self) if patch_moto else []
            for patch in patches:
                setattr(patch.owner, patch.attribute, patch.replacement)
            self._moto_patches = patches
            set_time_source(self.now)
            _installed_clock = self
        return self

    def uninstall(self) -> None:
        """Restore the wall clock and moto's own sleeping (no-op if this clock is not installed)."""
        global _installed_clock
        with _install_lock:
            if _installed_clock is not self:
                return
            for patch in reversed(self._moto_patches):
                setattr(patch.owner, patch.attribute, patch.original)
            self._moto_patches = []
            set_time_source(None)
            _installed_clock = None

    @contextlib.contextmanager
    def installed(self, *, patch_moto: bool = True) -> Iterator[VirtualClock]:
        self.install(patch_moto=patch_moto)
        try:
            yield self
        finally:
            self.uninstall()

    def __repr__(self) -> str:
        mode = "instant" if self._instant else f"factor={self._factor:g}"
        return f"VirtualClock({mode}, now={self.now().isoformat()})"


class ClockEvent:
    """A drop-in for ``threading.Event`` whose ``wait(timeout)`` measures ``timeout`` in virtual time.

    moto creates its task-token, heartbeat and task-timeout events through the names the patches
    replace, so their timeouts follow the clock. A ``set()`` immediately followed by ``clear()`` (moto
    "pulses" events that way) still wakes a waiter, as it does with ``threading.Event``.
    """

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._flag = False
        self._set_count = 0

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set  # threading.Event's legacy alias, kept for drop-in compatibility

    def set(self) -> None:
        with self._cond:
            self._flag = True
            self._set_count += 1
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._flag = False

    def wake(self) -> None:
        """Make waiters re-check the clock (called by the clock when time jumps)."""
        with self._cond:
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            if self._flag:
                return True
            sets_before = self._set_count
            if timeout is None:
                while self._set_count == sets_before:
                    self._cond.wait()
                return True
            # One timer per wait, not per event: several threads may wait on one event with different
            # timeouts.
            timer = _Timer(self, self.clock._now_us() + round(timeout * _MICROS_PER_SECOND))
            self.clock._add_timer(timer)
            try:
                while self._set_count == sets_before:
                    remaining_us = timer.deadline_us - self.clock._now_us()
                    if remaining_us <= 0:
                        return False
                    self._cond.wait(self.clock._real_timeout(remaining_us))
                return True
            finally:
                self.clock._remove_timer(timer)


@dataclass(eq=False)  # identity equality: two waits with the same deadline are two timers
class _Timer:
    event: ClockEvent
    deadline_us: int


_install_lock = threading.Lock()
_installed_clock: VirtualClock | None = None


def installed_clock() -> VirtualClock | None:
    """The clock currently installed, if any."""
    return _installed_clock


def _to_micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _MICROS_PER_SECOND + delta.microseconds


# ------------------------------------------------------------------------------------ RFC 3339 times

# Step Functions accepts RFC 3339 timestamps: uppercase T, fractional seconds optional, "Z" or a numeric
# offset. moto's parser only accepts "Z", but our code writes isoformat() ("+00:00"), so TimestampPath
# on a booking time would fail locally and work on AWS; the patched parser accepts both.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text: str) -> datetime | None:
    """An aware datetime, or None if ``text`` is not a timestamp Step Functions would accept."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # well-formed but impossible, e.g. month 13
        return None


# --------------------------------------------------------------------------------------- moto patches


@dataclass(frozen=True)
class _Patch:
    owner: Any
    attribute: str
    original: Any
    replacement: Any


_SFN = "moto.stepfunctions.parser.asl"
_WAIT_FUNCTION = f"{_SFN}.component.state.wait.wait_function.wait_function"
_TIMESTAMP = f"{_SFN}.component.state.wait.wait_function.timestamp"
_IS_OPERATOR = f"{_SFN}.component.state.choice.comparison.operator.implementations.is_operator"
_FAILURE_EVENT = f"{_SFN}.component.common.error_name.failure_event"
_RETRIER = f"{_SFN}.component.common.retry.retrier_decl"
_CALLBACK = f"{_SFN}.eval.callback.callback"
_EXECUTE_STATE = f"{_SFN}.component.state.exec.execute_state"
_PROGRAM = f"{_SFN}.component.program.program"

_Check = Callable[[Any], bool]


def _internal(module_name: str, attribute: str, check: _Check, expected: str) -> tuple[Any, Any]:
    """(owner, original) of ``module_name:[Class.]attribute``, after checking it still is what we patch."""
    where = f"{module_name}:{attribute}"
    pinned = f"(the local cloud's patches were written for moto {_PINNED_MOTO})"
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise MotoInternalsChanged(f"{module_name} cannot be imported {pinned}") from exc
    *classes, name = attribute.split(".")
    for class_name in classes:
        owner = getattr(owner, class_name, None)
        if owner is None:
            raise MotoInternalsChanged(f"{where}: class {class_name} is gone {pinned}")
    try:
        original = vars(owner)[name]  # vars(), not getattr(): keeps a staticmethod wrapper for restoring
    except KeyError as exc:
        raise MotoInternalsChanged(f"{where} is gone {pinned}") from exc
    if not check(original):
        raise MotoInternalsChanged(f"{where} is no longer {expected} {pinned}")
    return owner, original


def _has_parameters(*names: str) -> _Check:
    def check(candidate: Any) -> bool:
        function = candidate.__func__ if isinstance(candidate, staticmethod) else candidate
        return callable(function) and tuple(inspect.signature(function).parameters) == names

    return check


def _is(expected_object: object) -> _Check:
    return lambda candidate: candidate is expected_object


class _ThreadingWithVirtualTimeouts:
    """Stands in for the ``threading`` module inside one moto module: the same names, except that
    ``Event`` and ``Thread.join`` count their timeouts on the clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)

    def Event(self) -> ClockEvent:
        return self._clock.event()

    def Thread(self, *args: Any, **kwargs: Any) -> threading.Thread:
        return _ClockJoinThread(self._clock, *args, **kwargs)


class _ClockJoinThread(threading.Thread):
    """A thread whose ``join(timeout)`` counts the timeout in virtual time (execution TimeoutSeconds)."""

    def __init__(self, clock: VirtualClock, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._virtual_finished = clock.event()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._virtual_finished.set()

    def join(self, timeout: float | None = None) -> None:
        if timeout is None or self._virtual_finished.wait(timeout):
            super().join()


class _TimeWithVirtualSleep:
    """Stands in for the ``time`` module inside moto's retrier: ``sleep`` sleeps on the clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self.sleep = clock.sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _moto_patches(clock: VirtualClock) -> list[_Patch]:
    """Check every moto internal we replace, then describe the replacements (install applies them)."""
    return [
        *_wait_state_patches(clock),
        *_timestamp_patches(clock),
        *_timeout_patches(clock),
        *_stop_patches(),
    ]


_ENVIRONMENT = f"{_SFN}.eval.environment"
_PROGRAM_STATE = f"{_SFN}.eval.program_state"


def _stop_patches() -> list[_Patch]:
    # StopExecution: AWS aborts at once, even a task waiting for its token. moto marks the program stopped
    # but leaves that wait blocked until the token's timeout, whose error then overwrites "stopped" (the
    # execution reads FAILED). Wake this execution's callback waits, and let a stop win.
    environment, original_stop = _internal(
        _ENVIRONMENT, "Environment.set_stop", _has_parameters("self", "stop_date", "cause", "error"),
        "a method (self, stop_date, cause, error)",
    )
    _, original_error = _internal(_ENVIRONMENT, "Environment.set_error", _has_parameters("self", "error"),
                                  "a method (self, error)")
    _, stopped = _internal(_PROGRAM_STATE, "ProgramStopped", inspect.isclass, "a class")

    def set_stop(self: Any, stop_date: Any, cause: str | None, error: str | None) -> None:
        original_stop(self, stop_date=stop_date, cause=cause, error=error)
        for endpoint in list(self.callback_pool_manager._pool.values()):  # this execution's token waits
            endpoint.interrupt_all()

    def set_error(self: Any, error: Any) -> None:
        with self._state_mutex:  # an RLock
            if not isinstance(self._program_state, stopped):
                original_error(self, error)

    return [_Patch(environment, "set_stop", original_stop, set_stop),
            _Patch(environment, "set_error", original_error, set_error)]


def _wait_state_patches(clock: VirtualClock) -> list[_Patch]:
    # Every Wait form (Seconds, SecondsPath, Timestamp, TimestampPath, JSONata) ends in
    # WaitFunction._wait_interval, which waits on env.program_state_event (pulsed when the execution is
    # stopped) and goes back to waiting after unrelated wake-ups. Same contract, on the clock.
    wait_function, original_wait = _internal(
        _WAIT_FUNCTION, "WaitFunction._wait_interval", _has_parameters("self", "env", "wait_seconds"),
        "a method (self, env, wait_seconds)",
    )

    def wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        deadline = clock.now() + timedelta(seconds=wait_seconds)
        while True:
            remaining = (deadline - clock.now()).total_seconds()
            if remaining <= 0:
                return
            interrupted = clock.sleep(remaining, interrupt=env.program_state_event)
            if interrupted and not env.is_running():
                LOG.info("Wait state %s interrupted: the execution is no longer running", self)
                return

    # Retry intervals and back-off: RetrierDecl._eval_body calls its module's time.sleep.
    retrier_module, original_time = _internal(_RETRIER, "time", _is(time), "the time module")
    return [
        _Patch(wait_function, "_wait_interval", original_wait, wait_interval),
        _Patch(retrier_module, "time", original_time, _TimeWithVirtualSleep(clock)),
    ]


def _timestamp_patches(clock: VirtualClock) -> list[_Patch]:
    # moto measures Timestamp waits against the real, naive *local* now; measure against the virtual now.
    # And accept RFC 3339 offsets as Step Functions does, in Wait states and in Choice rules' Timestamp*
    # comparisons (moto parses both with a "Z"-only format).
    timestamp_class, original_seconds = _internal(
        _TIMESTAMP, "Timestamp._get_wait_seconds", _has_parameters("self", "env"), "a method (self, env)"
    )
    _, original_parse = _internal(
        _TIMESTAMP, "Timestamp._from_timestamp_string", _has_parameters("timestamp"),
        "a staticmethod (timestamp)",
    )
    _internal(
        _TIMESTAMP, "Timestamp._create_failure_event", _has_parameters("self", "env", "timestamp_str"),
        "a method (self, env, timestamp_str)",
    )
    _, failure_event_error = _internal(_FAILURE_EVENT, "FailureEventException", inspect.isclass, "a class")
    is_timestamp_class, original_choice_parse = _internal(
        _IS_OPERATOR, "IsTimestamp.string_to_timestamp", _has_parameters("string"), "a staticmethod (string)"
    )

    def from_timestamp_string(timestamp: str) -> datetime | None:
        parsed = parse_rfc3339(timestamp)
        return None if parsed is None else parsed.astimezone(UTC).replace(tzinfo=None)  # moto's: naive UTC

    def get_wait_seconds(self: Any, env: Any) -> float:
        self.string.eval(env=env)
        timestamp_text = env.stack.pop()
        target = parse_rfc3339(timestamp_text)
        if target is None:
            raise failure_event_error(self._create_failure_event(env, timestamp_text))
        return (target - clock.now()).total_seconds()

    return [
        _Patch(timestamp_class, "_get_wait_seconds", original_seconds, get_wait_seconds),
        _Patch(
            timestamp_class, "_from_timestamp_string", original_parse, staticmethod(from_timestamp_string)
        ),
        _Patch(
            is_timestamp_class, "string_to_timestamp", original_choice_parse, staticmethod(from_timestamp_string)
        ),
    ]


def _timeout_patches(clock: VirtualClock) -> list[_Patch]:
    # Task-token TimeoutSeconds (CallbackEndpoint.wait), HeartbeatSeconds (HeartbeatEndpoint) and activity
    # tasks wait on Events created through this module's `Event` name.
    callback_module, original_event = _internal(_CALLBACK, "Event", _is(threading.Event), "threading.Event")
    # A task's TimeoutSeconds: ExecuteState._evaluate_with_timeout waits on threading.Event().wait(timeout).
    execute_state_module, original_threading = _internal(
        _EXECUTE_STATE, "threading", _is(threading), "the threading module"
    )
    # The execution's TimeoutSeconds: Program.eval joins its worker thread with that timeout.
    program_module, _ = _internal(_PROGRAM, "threading", _is(threading), "the threading module")
    return [
        _Patch(callback_module, "Event", original_event, clock.event),
        _Patch(execute_state_module, "threading", original_threading, _ThreadingWithVirtualTimeouts(clock)),
        _Patch(program_module, "threading", original_threading, _ThreadingWithVirtualTimeouts(clock)),
    ]
