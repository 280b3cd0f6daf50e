"""Feeds that never stall: the stale-data watchdog, Retry-After, several
endpoints, fresh credentials, storm protection and rotation -- on loopback
servers and virtual time."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from tenacity import stop_after_attempt

import wsclient
from wsclient import DisconnectKind, HoldOff, ReconnectBudget, ReconnectPolicy, Refresh, Uniform
from wsclient.testing import Close, FakeClock, Hold, Pause, Receive, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import ENDS, Events, drain, unused_port, wsclient_tasks

# -- the stale-data watchdog --------------------------------------------------


async def test_a_feed_that_goes_silent_after_the_subscription_is_caught_at_stale_after(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    """The server keeps answering pings (the transport is alive) but sends no data."""
    server = await fault_server([[Receive(1), Hold()], [Receive(1), Send("tick"), Close(1000)]])

    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.send_str("subscribe")

    conn = wsclient.connect(
        server.url, stale_after=12, heartbeat=5, on_connect=subscribe, **options
    )
    async with conn:
        assert [m.data async for m in conn] == ["tick"]
    [stale] = events.of(wsclient.Stale)
    assert stale == wsclient.Stale(12, kept_waiting=False)
    first = events.of(wsclient.Disconnected)[0]
    assert (first.code, first.cause.kind) == (1006, DisconnectKind.STALE)
    assert events.of(wsclient.Connected)[1].attempt == 2
    assert conn.stats.pongs >= 2  # transport liveness, apart from data liveness


async def test_a_feed_that_answers_pings_but_never_sends_data_never_counts_as_stable(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    """Each connection lives ``stale_after`` (60 s, past ``stable_after``)
    on pongs alone: the backoff must still grow, and a stop must still end it."""
    server = await fault_server(then=[Hold()])
    options.update(stop=stop_after_attempt(3), stale_after=60, heartbeat=5)
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(wsclient.RetriesExhausted):
            await conn.receive()
    ends = events.of(wsclient.Disconnected)
    assert [e.cause.kind for e in ends] == [DisconnectKind.STALE] * 3
    assert [s.attempt for s in events.of(wsclient.ReconnectScheduled)] == [1, 2]
    assert conn.stats.pongs >= 3 * 11  # the transport was alive all along


async def test_on_stale_may_keep_waiting_on_a_quiet_channel(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Hold(seconds=35), Send("finally"), Close(1000)]])
    asked: list[float | None] = []

    def quiet_is_fine(conn: wsclient.Connection) -> bool:
        asked.append(conn.stats.data_age)
        return True

    conn = wsclient.connect(server.url, stale_after=10, on_stale=quiet_is_fine, **options)
    async with conn:
        assert [m.data async for m in conn] == ["finally"]
    assert [s.kept_waiting for s in events.of(wsclient.Stale)] == [True, True, True]
    assert server.connections == 1
    assert asked[0] == 10


async def test_flowing_data_keeps_the_watchdog_quiet(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    ticks = [step for n in range(20) for step in (Send(str(n)), Pause(4))]
    server = await fault_server([[*ticks, Close(1000)]])
    async with wsclient.connect(server.url, stale_after=10, **options) as conn:
        assert len([m async for m in conn]) == 20
    assert events.of(wsclient.Stale) == []
    assert conn.stats.data_age is not None


# -- Retry-After ----------------------------------------------------------------


async def test_503_with_an_http_date_is_measured_against_the_response_date(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    served = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC)
    headers = {
        "Date": format_datetime(served, usegmt=True),
        "Retry-After": format_datetime(served + timedelta(seconds=7), usegmt=True),
    }
    server = await fault_server([[Reject(503, headers)], [Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m async for m in conn] == []
    [scheduled] = events.of(wsclient.ReconnectScheduled)
    assert 7 <= scheduled.delay <= 8.4


async def test_retry_after_is_clamped_to_the_policy_maximum(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Reject(429, {"Retry-After": "86400"})], [Close(1000)]])
    policy = ReconnectPolicy.default(max_retry_after=90).with_rule(1000, wsclient.Stop())
    async with wsclient.connect(server.url, **(options | {"policy": policy})) as conn:
        assert [m async for m in conn] == []
    assert [e.delay for e in events.of(wsclient.ReconnectScheduled)] == [90]


@pytest.mark.parametrize(
    ("asked", "low", "high", "limit"),
    [(10, 10, 12, 600), (100, 100, 120, 600), (100, 90, 90, 90), (0, 0, 5, 600), (1, 1, 5, 600)],
)
def test_a_fleet_told_retry_after_returns_spread_never_early_and_never_past_the_limit(
    asked: float, low: float, high: float, limit: float
) -> None:
    """Every answer, however often repeated: between what the server asked and
    20 % more, a short one spread over the first 5 s, none past the limit."""
    policy = ReconnectPolicy.default(max_retry_after=limit)
    decision = policy.decide(wsclient.Disconnect(status=429, retry_after=asked))
    assert isinstance(decision, HoldOff)
    assert isinstance(decision.wait, Uniform)  # no curve: a repeat waits no longer
    rng = random.Random(3)
    delays = [decision.wait.delay(repeat, rng) for repeat in range(1, 11) for _ in range(50)]
    assert low <= min(delays)
    assert max(delays) <= high
    if low < high:  # a fleet does not come back in the same second
        buckets = Counter(int(5 * (d - low) / (high - low)) for d in delays)
        assert all(buckets[b] >= 50 for b in range(5)), buckets


async def test_a_malformed_retry_after_falls_back_to_standard_backoff_and_is_logged_once(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    soon = Reject(429, {"Retry-After": "soon, promise"})
    server = await fault_server([[soon], [soon], [Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m async for m in conn] == []
    delays = [e.delay for e in events.of(wsclient.ReconnectScheduled)]
    assert 0 <= delays[0] <= 5
    assert 0 <= delays[1] <= 10
    assert caplog.text.count("malformed Retry-After") == 1


# -- several endpoints ------------------------------------------------------------


async def test_1013_on_endpoint_a_moves_to_endpoint_b_at_once(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    a = await fault_server([[Close(1013, "busy")]])
    b = await fault_server([[Send("from b"), Close(1000)]])
    async with wsclient.connect([a.url, b.url], **options) as conn:
        assert [m.data async for m in conn] == ["from b"]
        assert conn.url == str(b.url)
    [scheduled] = events.of(wsclient.ReconnectScheduled)
    assert scheduled.delay == 0
    assert scheduled.url == str(b.url)
    assert events.of(wsclient.HoldingOff) == []
    assert [e.url for e in events.of(wsclient.Connected)] == [str(a.url), str(b.url)]
    assert conn.stats.url == str(b.url)
    assert clock.now() < 1


async def test_a_refused_endpoint_moves_on_and_the_hold_off_waits_for_all(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    refused = f"ws://127.0.0.1:{unused_port()}/"
    busy = await fault_server([[Close(1013)], [Send("back"), Close(1000)]])
    async with wsclient.connect([busy.url, refused], **options) as conn:
        assert [m.data async for m in conn] == ["back"]
    delays = [e.delay for e in events.of(wsclient.ReconnectScheduled)]
    # busy says 1013: refused next, at once; refused fails: every endpoint
    # was tried, so the hold-off applies before busy is tried again.
    assert delays[0] == 0
    assert 30 <= delays[1] <= 120
    assert [e.url for e in events.of(wsclient.ConnectFailed)] == [refused]


async def test_an_empty_endpoint_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one endpoint"):
        wsclient.connect([])


# -- fresh credentials per attempt --------------------------------------------------


async def test_a_callable_url_is_called_once_per_attempt_with_a_new_token(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    server = await fault_server([[Close(1011)], [Reject(503)], [Send("ok"), Close(1000)]])
    issued: list[str] = []

    async def fresh_url() -> str:
        token = f"tok-{len(issued) + 1:04d}-secret"
        issued.append(token)
        return str(server.url.with_query(token=token))

    async with wsclient.connect(fresh_url, **options) as conn:
        assert [m.data async for m in conn] == ["ok"]
    assert issued == ["tok-0001-secret", "tok-0002-secret", "tok-0003-secret"]
    assert [r.path_qs for r in server.requests] == [f"/?token={t}" for t in issued]
    shown = caplog.text + "".join(map(repr, events)) + repr(conn)
    assert not any(token in shown for token in issued)


async def test_callable_headers_give_fresh_credentials_per_attempt(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Close(1011)], [Send("ok"), Close(1000)]])
    calls = 0

    def bearer() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"Authorization": f"Bearer token-{calls}"}

    async with wsclient.connect(server.url, headers=bearer, **options) as conn:
        assert [m.data async for m in conn] == ["ok"]
    assert [r.headers["Authorization"] for r in server.requests] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_401_mapped_to_refresh_retries_once_with_fresh_credentials_then_fails(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Reject(401)], [Reject(401)]], then=[Send("never")])
    tokens = iter(range(1, 10))
    policy = ENDS.with_status_rule(401, Refresh("token expired"))
    conn = wsclient.connect(
        lambda: str(server.url.with_query(t=str(next(tokens)))), **(options | {"policy": policy})
    )
    async with conn:
        with pytest.raises(wsclient.HandshakeRejected) as info:
            await conn.receive()
    assert info.value.status == 401
    assert [r.path_qs for r in server.requests] == ["/?t=1", "/?t=2"]
    assert [e.delay for e in events.of(wsclient.ReconnectScheduled)] == [0]


async def test_a_refresh_that_works_carries_on(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Close(4401, "token expired")], [Send("ok"), Close(1000)]])
    policy = ENDS.with_rule(4401, Refresh())
    async with wsclient.connect(server.url, **(options | {"policy": policy})) as conn:
        assert [m.data async for m in conn] == ["ok"]


async def test_a_4401_close_twice_in_a_row_fails(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Close(4401)], [Close(4401)]])
    policy = ENDS.with_rule(4401, Refresh())
    async with wsclient.connect(server.url, **(options | {"policy": policy})) as conn:
        with pytest.raises(wsclient.FatalClose) as info:
            await conn.receive()
    assert info.value.code == 4401


async def test_a_bad_url_from_the_callable_fails_naming_it(options: dict[str, Any]) -> None:
    async with wsclient.connect(lambda: "ftp://nope/", **options) as conn:
        with pytest.raises(ValueError, match="scheme 'ftp'"):
            await conn.receive()
    assert conn.state is wsclient.State.FAILED


async def test_a_credentials_callable_that_raises_fails_the_connection(
    options: dict[str, Any], events: Events
) -> None:
    def vault_down() -> dict[str, str]:
        raise ConnectionRefusedError("vault is down")

    conn = wsclient.connect("ws://127.0.0.1:1/", headers=vault_down, **options)
    async with conn:
        with pytest.raises(ConnectionRefusedError, match="vault"):
            await conn.receive()
    assert events.names()[-1] == "GaveUp"


# -- storm protection ---------------------------------------------------------------


def test_the_budget_keeps_its_own_time_and_spreads_what_it_delays() -> None:
    budget = ReconnectBudget(per_minute=180)  # 3 a second
    assert [round(budget.reserve(0, 0.5), 3) for _ in range(5)] == [0.5, 0.5, 0.5, 1.0, 1.333]
    assert budget.reserve(0, 9.25) == 9.25  # a later slot is not pushed by earlier ones
    with pytest.raises(ValueError, match="per_minute"):
        ReconnectBudget(per_minute=10)


async def test_1000_connections_told_1012_at_once_come_back_spread_over_5_to_30_s(
    fault_server: StartServer, clock: FakeClock
) -> None:
    server = await fault_server(then=[Close(1012, "restart")])
    delays: list[float] = []
    all_scheduled = asyncio.Event()

    def on_event(event: wsclient.Event) -> None:
        if isinstance(event, wsclient.ReconnectScheduled):
            delays.append(event.delay)
            if len(delays) == 1000:
                all_scheduled.set()

    async with wsclient.Session(
        clock=clock, rng=random.Random(99), on_event=on_event, heartbeat=None
    ) as session:
        conns = [session.connect(server.url) for _ in range(1000)]
        for conn in conns:
            conn.open()
        async with asyncio.timeout(60):
            await all_scheduled.wait()
    assert all(5 <= d <= 30 for d in delays)
    histogram = Counter(int((d - 5) // 2.5) for d in delays[:1000])  # ten 2.5 s buckets
    mean = 1000 / 10
    assert len(histogram) == 10
    assert max(histogram.values()) <= 3 * mean, histogram
    assert min(histogram.values()) >= mean / 3, histogram


async def test_the_session_budget_delays_a_storm_and_folds_it_into_one_delay(
    fault_server: StartServer, clock: FakeClock
) -> None:
    server = await fault_server([[Close(4000)]] * 30, then=[Hold()])
    scheduled: list[float] = []
    all_scheduled = asyncio.Event()
    policy = ReconnectPolicy.default().with_rule(4000, wsclient.Reconnect(wsclient.Uniform(0, 0)))

    def on_event(event: wsclient.Event) -> None:
        if isinstance(event, wsclient.ReconnectScheduled):
            scheduled.append(event.delay)
            if len(scheduled) == 30:
                all_scheduled.set()

    budget = ReconnectBudget(per_minute=600)  # 10 a second
    async with wsclient.Session(
        clock=clock, policy=policy, on_event=on_event, heartbeat=None, budget=budget
    ) as session:
        for _ in range(30):
            session.connect(server.url).open()
        async with asyncio.timeout(10):
            await all_scheduled.wait()
    per_second = Counter(int(d) for d in scheduled)
    assert max(per_second.values()) <= 10
    assert max(scheduled) >= 2


# -- rotation --------------------------------------------------------------------


@pytest.fixture
async def ticker(clock: FakeClock) -> AsyncIterator[TestServer]:
    """A feed that numbers its messages: one a second (virtual) to every
    subscriber, from a single counter, like an exchange's sequence numbers."""
    subscribers: set[web.WebSocketResponse] = set()
    counter = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and msg.data == "subscribe":
                subscribers.add(ws)
        subscribers.discard(ws)
        return ws

    async def tick() -> None:
        nonlocal counter
        while True:
            await clock.sleep(1)
            counter += 1
            for ws in list(subscribers):
                try:
                    await ws.send_str(str(counter))
                except ConnectionError:  # a subscriber that just left
                    subscribers.discard(ws)

    app = web.Application()
    app.router.add_get("/", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    task = asyncio.create_task(tick())
    yield server
    task.cancel()
    await asyncio.wait({task})
    await server.close()


async def test_rotation_at_max_age_overlaps_without_a_gap(
    ticker: TestServer, options: dict[str, Any], events: Events
) -> None:
    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.send_str("subscribe")

    url = ticker.make_url("/").with_scheme("ws")
    got: list[int] = []
    async with wsclient.connect(url, max_age=30, on_connect=subscribe, **options) as conn:
        async for msg in conn:
            got.append(int(msg.data))
            if got[-1] >= 100:
                break
    assert len(events.of(wsclient.Connected)) >= 3  # rotated at least twice
    rotations = [
        e for e in events.of(wsclient.Disconnected) if e.cause.kind is DisconnectKind.ROTATE
    ]
    assert len(rotations) >= 2
    assert sorted(set(got)) == list(range(got[0], 101))  # no gap; repeats allowed
    assert wsclient_tasks() == []


async def test_a_close_during_rotation_leaves_nothing_behind(
    ticker: TestServer, options: dict[str, Any]
) -> None:
    url = ticker.make_url("/").with_scheme("ws")

    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.send_str("subscribe")

    got: list[Any] = []
    async with wsclient.connect(url, max_age=5, on_connect=subscribe, **options) as conn:
        async for msg in conn:
            got.append(msg.data)
            if len(got) == 12:
                break
    assert conn.state is wsclient.State.CLOSED
    assert wsclient_tasks() == []


async def test_a_stop_that_always_stops_gives_up_after_a_refused_port(
    options: dict[str, Any],
) -> None:
    async with wsclient.connect("ws://127.0.0.1:1/", stop=lambda _: True, **options) as conn:
        with pytest.raises(wsclient.RetriesExhausted):
            await drain(conn, [])
