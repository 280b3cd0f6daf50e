"""FakeClock: virtual time that behaves like real time, only faster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

import wsclient
from wsclient.clock import Clock, DeadlineExceeded, ScaledClock, SystemClock, call_later, deadline
from wsclient.testing import FakeClock, VirtualTimeExceeded

from .conftest import unused_port


async def test_sleepers_wake_in_deadline_order_without_waiting() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(sleeper("watchdog", 60), sleeper("backoff", 17.5), sleeper("hb", 20))
    assert woke == [("backoff", 17.5), ("hb", 20), ("watchdog", 60)]
    assert loop.time() - started < 0.5
    assert clock.sleeps == [60, 17.5, 20]


async def test_a_watchdog_does_not_fire_while_work_is_going_on() -> None:
    """Time only jumps when the loop is idle: a busy loop keeps virtual time still."""
    clock = FakeClock()
    fired = asyncio.Event()

    async def watchdog() -> None:
        await clock.sleep(1)
        fired.set()

    task = asyncio.create_task(watchdog())
    for _ in range(2000):  # busy for a while: never idle
        await asyncio.sleep(0)
        assert not fired.is_set()
    assert clock.now() == 0
    await asyncio.wait_for(fired.wait(), 1)
    assert clock.now() == 1
    await task


async def test_time_stands_still_while_the_executor_works() -> None:
    """A DNS lookup runs in a thread: the loop looks idle but is not."""
    clock = FakeClock()
    timer = asyncio.create_task(clock.sleep(10))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, time.sleep, 0.05)
    assert not timer.done()
    assert clock.now() == 0
    await timer
    assert clock.now() == 10


async def test_time_stands_still_while_sockets_talk() -> None:
    """A request and its answer over loopback, 30 ms apart in real time, beat a
    10 s virtual timeout: socket events count as activity."""
    clock = FakeClock()

    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):
            data = await reader.readline()
            await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.01)
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(slow_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    timeout = asyncio.create_task(clock.sleep(10))
    for n in range(3):
        writer.write(b"%d\n" % n)
        assert await reader.readline() == b"%d\n" % n
    assert not timeout.done()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    await timeout


async def test_advance_by_hand_without_autojump() -> None:
    clock = FakeClock(start=100, autojump=False)
    task = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0.01)
    assert not task.done()
    assert clock.pending == [105]
    clock.advance(4.9)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(0.1)
    await task
    assert clock.now() == 105
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)


async def test_a_cancelled_sleeper_is_forgotten() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.sleep(3)
    assert clock.now() == 3
    assert clock.pending == []


async def test_zero_sleep_yields_once() -> None:
    clock = FakeClock()
    await clock.sleep(0)
    assert clock.now() == 0
    assert clock.sleeps == [0]


async def test_deadline_on_the_fake_clock() -> None:
    clock = FakeClock()
    with pytest.raises(TimeoutError):
        async with deadline(clock, 10):
            await clock.sleep(11)
    assert clock.now() == 10
    async with deadline(clock, 10):
        await clock.sleep(9)
    async with deadline(clock, None):
        await clock.sleep(100)


@pytest.mark.parametrize("clock", [SystemClock(), FakeClock()], ids=["system", "fake"])
async def test_deadline_tells_its_own_timeout_from_the_bodys(clock: Clock) -> None:
    with pytest.raises(DeadlineExceeded):
        async with deadline(clock, 0.01):
            await clock.sleep(0.02)
    with pytest.raises(TimeoutError) as info:
        async with deadline(clock, 10):
            raise TimeoutError("the body's own")
    assert not isinstance(info.value, DeadlineExceeded)


async def test_deadline_lets_an_outer_cancel_through() -> None:
    clock = FakeClock(autojump=False)

    async def body() -> None:
        async with deadline(clock, 10):
            await asyncio.sleep(10)

    task = asyncio.create_task(body())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_system_clock() -> None:
    clock = SystemClock()
    before = clock.now()
    await clock.sleep(0.001)
    assert clock.now() > before
    assert repr(clock) == "SystemClock()"


async def test_timers_fire_in_deadline_order_among_sleepers_and_can_be_called_off() -> None:
    clock = FakeClock()
    fired: list[tuple[str, float]] = []

    def note(name: str) -> Callable[[], None]:
        return lambda: fired.append((name, clock.now()))

    clock.call_later(20, note("heartbeat"))
    off = clock.call_later(10, note("called off"))
    clock.call_later(0, note("at once"))
    off.cancel()
    await clock.sleep(30)
    assert fired == [("at once", 0), ("heartbeat", 20)]
    assert clock.sleeps == [20, 10, 0, 30]
    assert clock.pending == []


@pytest.mark.parametrize("clock", [SystemClock(), ScaledClock(1000.0)], ids=repr)
async def test_real_clocks_use_the_loops_own_timers(clock: Clock) -> None:
    fired = asyncio.Event()
    timer = call_later(clock, 0.001, fired.set)
    assert isinstance(timer, asyncio.TimerHandle)
    async with asyncio.timeout(2):
        await fired.wait()


async def test_a_clock_without_timers_gets_a_task_that_sleeps_on_it() -> None:
    class Minimal:  # a user's clock: now() and sleep() only
        def __init__(self) -> None:
            self.fake = FakeClock()

        def now(self) -> float:
            return self.fake.now()

        async def sleep(self, seconds: float) -> None:
            await self.fake.sleep(seconds)

    clock = Minimal()
    fired: list[float] = []
    timer = call_later(clock, 5, lambda: fired.append(clock.now()))
    assert isinstance(timer, asyncio.Task)
    await timer
    assert fired == [5]
    off = call_later(clock, 5, lambda: fired.append(-1))
    off.cancel()
    await asyncio.sleep(0)
    assert fired == [5]


async def test_a_timer_cancelled_once_due_but_before_it_ran_never_runs() -> None:
    clock = FakeClock(autojump=False)
    fired: list[int] = []
    timer = clock.call_later(1, lambda: fired.append(1))
    clock.advance(1)  # due: its callback is scheduled
    timer.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert fired == []


async def test_a_jump_past_the_limit_fails_the_sleepers_with_a_clear_error() -> None:
    clock = FakeClock(limit=100)
    fired: list[float] = []
    await clock.sleep(60)  # within the limit
    clock.call_later(70, lambda: fired.append(clock.now()))
    with pytest.raises(
        VirtualTimeExceeded, match=r"jump to 130 s, past the FakeClock's limit \(100 s\)"
    ):
        await clock.sleep(80)
    assert clock.now() == 60
    assert fired == []  # nothing past the limit runs


async def test_a_client_that_reconnects_for_ever_ends_the_test_instead_of_spinning() -> None:
    # The server is gone for good and nothing stops the client: without a
    # limit this test would jump through virtual time for ever.
    clock = FakeClock(limit=3600)
    url = f"ws://127.0.0.1:{unused_port()}/"
    async with wsclient.connect(url, clock=clock, heartbeat=None) as conn:
        with pytest.raises(VirtualTimeExceeded):
            async for _msg in conn:
                pass
    assert 3000 < clock.now() <= 3600
    assert conn.state is wsclient.State.FAILED


def test_the_limit_is_checked() -> None:
    with pytest.raises(ValueError, match="limit must be > 0 seconds or None"):
        FakeClock(limit=0)
    assert FakeClock(limit=None).now() == 0
