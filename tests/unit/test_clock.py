"""local.clock.VirtualClock: modes, waiting, installation, and the guarded moto patches."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from driveway_hub import clock as shared_clock
from local.clock import ClockEvent, MotoInternalsChanged, VirtualClock, installed_clock, parse_rfc3339

START = datetime(2030, 5, 17, 9, 0, tzinfo=UTC)
REAL_LIMIT = 5.0  # seconds a helper thread may take before the test fails instead of hanging

RETRIER = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
WAIT_FUNCTION = "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function"
CALLBACK = "moto.stepfunctions.parser.asl.eval.callback.callback"
TIMESTAMP = "moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp"
IS_OPERATOR = "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.is_operator"


@pytest.fixture(autouse=True)
def no_clock_left_installed() -> Iterator[None]:
    yield
    leftover = installed_clock()
    if leftover is not None:
        leftover.uninstall()
        pytest.fail("a test left a clock installed")


class Background:
    """Run a call on a thread and collect its result (or fail the test if it never returns)."""

    def __init__(self, target: object, *args: object) -> None:
        self.result: object = None
        self._thread = threading.Thread(target=self._run, args=(target, *args), daemon=True)
        self._thread.start()

    def _run(self, target: object, *args: object) -> None:
        assert callable(target)
        self.result = target(*args)

    def join(self) -> object:
        self._thread.join(REAL_LIMIT)
        assert not self._thread.is_alive(), "the background call did not return"
        return self.result

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


def wait_for_deadline(clock: VirtualClock, deadline: datetime) -> None:
    """Block (really, briefly) until some thread waits on the clock with this deadline."""
    signal = threading.Event()
    for _ in range(int(REAL_LIMIT / 0.005)):
        if deadline in clock.pending_deadlines():
            return
        signal.wait(0.005)
    pytest.fail(f"nobody waited until {deadline}")


# -------------------------------------------------------------------------------------------- modes


def test_instant_clock_is_frozen_and_sleeps_jump_by_the_amount_slept() -> None:
    clock = VirtualClock.instant(start=START)

    assert clock.now() == START
    assert clock.now() == START
    assert clock.sleep(3600) is False
    assert clock.now() == START + timedelta(hours=1)
    assert clock.elapsed() == timedelta(hours=1)


def test_now_is_aware_utc_even_for_a_start_with_another_offset() -> None:
    clock = VirtualClock.instant(start=datetime(2030, 5, 17, 11, 0, tzinfo=timezone(timedelta(hours=2))))

    assert clock.now() == START
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.start.tzinfo is UTC


def test_default_start_is_the_real_now() -> None:
    before = datetime.now(UTC)
    clock = VirtualClock.instant()

    assert before <= clock.now() <= datetime.now(UTC)


def test_instant_clock_with_a_factor_also_flows_with_real_time() -> None:
    clock = VirtualClock.instant(start=START, factor=1000)

    threading.Event().wait(0.01)

    assert clock.now() >= START + timedelta(seconds=10)


def test_scaled_clock_runs_faster_than_real_time_and_sleeps_shorter() -> None:
    clock = VirtualClock.scaled(3600, start=START)

    assert clock.sleep(36) is False  # 10 ms of real time

    assert clock.now() >= START + timedelta(seconds=36)
    assert clock.factor == 3600
    assert not clock.is_instant


def test_advance_moves_forward_and_advance_to_never_moves_back() -> None:
    clock = VirtualClock.instant(start=START)

    assert clock.advance(90) == START + timedelta(seconds=90)
    assert clock.advance_to(START) == START + timedelta(seconds=90)
    assert clock.advance_to(START + timedelta(days=1)) == START + timedelta(days=1)
    assert clock.sleep_until(START) is False
    assert clock.now() == START + timedelta(days=1)


@pytest.mark.parametrize(
    "misuse",
    [
        lambda: VirtualClock.instant(start=START).advance(-1),
        lambda: VirtualClock.instant(start=START).advance_to(datetime(2030, 1, 1)),
        lambda: VirtualClock(start=datetime(2030, 1, 1)),
        lambda: VirtualClock(factor=-1),
        lambda: VirtualClock.scaled(0),
    ],
)
def test_misuse_is_rejected(misuse: object) -> None:
    assert callable(misuse)
    with pytest.raises(ValueError):
        misuse()


# ------------------------------------------------------------------------------------------ waiting


def test_a_paused_clock_blocks_sleepers_until_time_is_advanced_past_their_deadline() -> None:
    clock = VirtualClock(factor=0, start=START)  # neither flowing nor instant: a manual clock
    sleeper = Background(clock.sleep, 600)
    wait_for_deadline(clock, START + timedelta(seconds=600))

    clock.advance(599)
    assert sleeper.running
    assert clock.advance_to_next_deadline() == START + timedelta(seconds=600)

    assert sleeper.join() is False
    assert clock.pending_deadlines() == []
    assert clock.advance_to_next_deadline() is None


def test_event_wait_times_out_on_virtual_time_not_real_time() -> None:
    clock = VirtualClock.instant(start=START)
    event = clock.event()
    waiter = Background(event.wait, 3600)
    wait_for_deadline(clock, START + timedelta(hours=1))

    clock.advance(3600)

    assert waiter.join() is False


def test_event_wait_returns_true_when_set() -> None:
    clock = VirtualClock.instant(start=START)
    event = clock.event()
    waiter = Background(event.wait, 3600)
    wait_for_deadline(clock, START + timedelta(hours=1))

    event.set()

    assert waiter.join() is True
    assert event.is_set()
    assert event.wait(1) is True
    event.clear()
    assert not event.is_set()


def test_event_wait_without_timeout_returns_when_set() -> None:
    event = VirtualClock.instant(start=START).event()
    waiter = Background(event.wait)

    event.set()

    assert waiter.join() is True


def test_a_pulse_set_then_cleared_still_wakes_a_waiter_like_threading_event() -> None:
    clock = VirtualClock.instant(start=START)
    event = clock.event()
    waiter = Background(event.wait, 3600)
    wait_for_deadline(clock, START + timedelta(hours=1))

    event.set()
    event.clear()

    assert waiter.join() is True
    assert not event.is_set()


def test_two_waits_on_one_event_keep_their_own_deadlines() -> None:
    clock = VirtualClock.instant(start=START)
    event = clock.event()
    short = Background(event.wait, 60)
    long = Background(event.wait, 600)
    wait_for_deadline(clock, START + timedelta(seconds=60))
    wait_for_deadline(clock, START + timedelta(seconds=600))

    clock.advance(60)
    assert short.join() is False
    assert long.running
    clock.advance(540)

    assert long.join() is False


def test_sleep_returns_early_when_a_plain_threading_event_interrupts_it() -> None:
    clock = VirtualClock.scaled(1, start=START)
    interrupt = threading.Event()
    sleeper = Background(clock.sleep, 3600, interrupt)

    interrupt.set()

    assert sleeper.join() is True


def test_sleep_returns_early_when_its_clock_event_interrupts_it() -> None:
    clock = VirtualClock.scaled(1, start=START)
    interrupt: ClockEvent = clock.event()
    sleeper = Background(clock.sleep, 3600, interrupt)

    interrupt.set()  # before or during the wait: either way the sleep ends early

    assert sleeper.join() is True


def test_instant_sleep_ignores_interrupts_because_it_takes_no_time() -> None:
    clock = VirtualClock.instant(start=START)
    interrupt = threading.Event()
    interrupt.set()

    assert clock.sleep(60, interrupt) is False
    assert clock.now() == START + timedelta(seconds=60)


# ----------------------------------------------------------------------------- install / uninstall


def test_installed_clock_is_the_shared_time_source_until_uninstalled() -> None:
    clock = VirtualClock.instant(start=START)

    with clock.installed(patch_moto=False):
        assert shared_clock.utcnow() == START
        assert installed_clock() is clock
        assert clock.is_installed
        clock.advance(60)
        assert shared_clock.utcnow() == START + timedelta(minutes=1)

    assert installed_clock() is None
    assert abs(shared_clock.utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_only_one_clock_can_be_installed_and_reinstalling_the_same_one_is_harmless() -> None:
    first = VirtualClock.instant(start=START)
    second = VirtualClock.instant(start=START)

    with first.installed(patch_moto=False):
        assert first.install(patch_moto=False) is first
        with pytest.raises(RuntimeError, match="another VirtualClock"):
            second.install(patch_moto=False)
    second.uninstall()  # not installed: a no-op


def test_install_patches_moto_and_uninstall_restores_every_original() -> None:
    import time

    retrier = importlib.import_module(RETRIER)
    wait_function = importlib.import_module(WAIT_FUNCTION).WaitFunction
    callback = importlib.import_module(CALLBACK)
    original_wait_interval = wait_function._wait_interval
    clock = VirtualClock.instant(start=START)

    with clock.installed():
        assert retrier.time is not time
        assert wait_function._wait_interval is not original_wait_interval
        assert isinstance(callback.Event(), ClockEvent)

    assert retrier.time is time
    assert wait_function._wait_interval is original_wait_interval
    assert callback.Event is threading.Event


def test_a_moved_moto_internal_fails_loudly_and_patches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    retrier = importlib.import_module(RETRIER)
    wait_function = importlib.import_module(WAIT_FUNCTION).WaitFunction
    original_wait_interval = wait_function._wait_interval
    monkeypatch.delattr(retrier, "time")
    clock = VirtualClock.instant(start=START)

    with pytest.raises(MotoInternalsChanged, match="retrier_decl:time is gone"):
        clock.install()

    assert not clock.is_installed
    assert wait_function._wait_interval is original_wait_interval


def test_a_moto_internal_with_a_new_signature_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    wait_function = importlib.import_module(WAIT_FUNCTION).WaitFunction
    monkeypatch.setattr(wait_function, "_wait_interval", lambda self, env, seconds, extra: None)

    with pytest.raises(MotoInternalsChanged, match=r"WaitFunction\._wait_interval is no longer"):
        VirtualClock.instant(start=START).install()


# --------------------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-05-17T09:00:00Z", START),
        ("2030-05-17T09:00:00.250Z", START + timedelta(milliseconds=250)),
        ("2030-05-17T11:00:00+02:00", START),
        ("2030-05-17T09:00:00+00:00", START),
    ],
)
def test_rfc3339_timestamps_that_step_functions_accepts(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    "text", ["2030-05-17 09:00:00Z", "2030-05-17t09:00:00Z", "2030-05-17T09:00:00", "2030-13-17T09:00:00Z", 42]
)
def test_timestamps_that_step_functions_rejects(text: object) -> None:
    assert parse_rfc3339(text) is None  # type: ignore[arg-type]


def test_installed_clock_makes_moto_accept_timestamp_offsets_in_waits_and_choices() -> None:
    wait_timestamp = importlib.import_module(TIMESTAMP).Timestamp
    choice_timestamp = importlib.import_module(IS_OPERATOR).IsTimestamp
    with_offset = "2030-05-17T11:00:00+02:00"

    with VirtualClock.instant(start=START).installed():
        assert wait_timestamp._from_timestamp_string(with_offset) == START.replace(tzinfo=None)
        assert choice_timestamp.string_to_timestamp(with_offset) == START.replace(tzinfo=None)
        assert choice_timestamp.string_to_timestamp(42) is None

    assert wait_timestamp._from_timestamp_string(with_offset) is None
    assert choice_timestamp.string_to_timestamp(with_offset) is None
