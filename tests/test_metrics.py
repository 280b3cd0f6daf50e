"""OpenTelemetry metrics, read through the real SDK's in-memory reader, from
connections to real servers on loopback, in virtual time."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

import wsclient
from wsclient import Connected, ConnectFailed, HandshakeRejected
from wsclient.metrics import _Instruments
from wsclient.options import Options
from wsclient.testing import Close, Drop, FakeClock, Hold, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import Events, unused_port

Point = tuple[str, frozenset[tuple[str, Any]]]


class Metrics:
    """A real SDK meter provider whose data a test reads as a dict."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        self.json = ""  # what the last collection would export, as JSON

    def collect(self) -> dict[Point, Any]:
        """Every data point: a number, or (count, sum) for a histogram."""
        data = self.reader.get_metrics_data()
        assert data is not None
        self.json = data.to_json()
        points: dict[Point, Any] = {}
        for metric in _metrics(data):
            for point in metric.data.data_points:
                key = (metric.name, frozenset((point.attributes or {}).items()))
                if isinstance(point, HistogramDataPoint):
                    points[key] = (point.count, point.sum)
                else:
                    points[key] = point.value
        return points


def _metrics(data: Any) -> Iterator[Any]:
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            yield from scope.metrics


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    made = Metrics()
    yield made
    made.provider.shutdown()


def at(name: str, **attributes: Any) -> Point:
    return name, frozenset({"wsclient.name": "feed", **attributes}.items())


def ended(code: int, initiator: str) -> Point:
    attributes = {"wsclient.close_code": code, "wsclient.initiator": initiator}
    return at("wsclient.disconnects", **attributes)


async def test_a_connections_life_is_counted(
    fault_server: StartServer, metrics: Metrics, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(
        [
            [Send("one"), Close(1012, "restart")],
            [Send("two"), Drop()],
            [Reject(429, {"Retry-After": "7"})],
            [Send("three"), Close(1000)],
        ]
    )
    async with wsclient.connect(
        server.url, name="feed", metrics=metrics.provider, **options
    ) as conn:
        await conn.send_str("hello")
        received = [msg.data async for msg in conn]
    assert received == ["one", "two", "three"]
    assert events.names().count("Connected") == 3  # the application's on_event still runs
    points = metrics.collect()
    assert points[at("wsclient.connects")] == 3
    assert points[ended(1012, "server")] == 1
    assert points[ended(1006, "transport")] == 1
    assert points[ended(1000, "server")] == 1
    failure = {"wsclient.failure": "handshake", "http.response.status_code": 429}
    assert points[at("wsclient.connect_failures", **failure)] == 1
    assert points[at("wsclient.holdoffs")] == 1
    delays = {k: v for k, v in points.items() if k[0] == "wsclient.reconnect.delay"}
    waits = [e.delay for e in events.of(wsclient.ReconnectScheduled)]
    assert sum(count for count, _ in delays.values()) == len(waits) == 3
    assert sum(total for _, total in delays.values()) == pytest.approx(sum(waits))
    assert points[at("wsclient.reconnect.delay", **{"wsclient.decision": "HoldOff"})][1] >= 7.0
    assert points[at("wsclient.messages", **{"wsclient.direction": "received"})] == 3
    assert points[at("wsclient.messages", **{"wsclient.direction": "sent"})] == 1
    assert points[at("wsclient.bytes", **{"wsclient.direction": "received"})] == 11
    assert points[at("wsclient.bytes", **{"wsclient.direction": "sent"})] == 5
    assert points[at("wsclient.open")] == 0
    assert at("wsclient.give_ups") not in points


async def test_a_give_up_is_counted_with_its_cause(
    fault_server: StartServer, metrics: Metrics, options: dict[str, Any]
) -> None:
    server = await fault_server([[Reject(401)]])
    async with wsclient.connect(
        server.url, name="feed", metrics=metrics.provider, **options
    ) as conn:
        with pytest.raises(HandshakeRejected):
            await conn.receive()
    points = metrics.collect()
    failure = {"wsclient.failure": "handshake", "http.response.status_code": 401}
    assert points[at("wsclient.give_ups", **failure)] == 1
    assert points[at("wsclient.connect_failures", **failure)] == 1
    assert at("wsclient.connects") not in points


async def test_duplicates_gaps_and_the_open_socket_are_observed(
    fault_server: StartServer, metrics: Metrics, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(then=[Send("1"), Send("2"), Send("2"), Send("5"), Hold()])
    key = lambda msg: ("s", int(msg.data))  # noqa: E731
    async with wsclient.connect(
        server.url, name="feed", metrics=metrics.provider, sequence=key, **options
    ) as conn:
        seen = []
        async for item in conn.stream():
            seen.append(item)
            if len(seen) == 4:  # 1, 2, the gap's marker, 5
                break
        points = metrics.collect()
        assert points[at("wsclient.duplicates")] == 1
        assert points[at("wsclient.gaps")] == 1
        assert points[at("wsclient.open")] == 1
        assert points[at("wsclient.outbox.depth")] == 0


async def test_the_outbox_depth_is_observed_while_down(
    metrics: Metrics, options: dict[str, Any], events: Events
) -> None:
    url = f"ws://127.0.0.1:{unused_port()}/"  # refused: the connection keeps trying
    async with wsclient.connect(url, name="feed", metrics=metrics.provider, **options) as conn:
        await conn.send_str("a")
        await conn.send_str("b")
        await events.wait_count(ConnectFailed, 1)
        points = metrics.collect()
        assert points[at("wsclient.outbox.depth")] == 2
        assert points[at("wsclient.open")] == 0
        assert points[at("wsclient.connect_failures", **{"wsclient.failure": "refused"})] >= 1
        await conn.close()


async def test_a_round_trip_is_recorded(
    fault_server: StartServer, metrics: Metrics, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(then=[Hold()])
    async with wsclient.connect(
        server.url, name="feed", metrics=metrics.provider, heartbeat=None, **options
    ) as conn:
        await events.wait_count(Connected, 1)
        rtt = await conn.ping()
        assert metrics.collect()[at("wsclient.heartbeat.round_trip")] == (1, rtt)


async def test_the_heartbeat_records_its_round_trips(
    fault_server: StartServer, metrics: Metrics, options: dict[str, Any], clock: FakeClock
) -> None:
    server = await fault_server(then=[Hold()])
    async with wsclient.connect(
        server.url, name="feed", metrics=metrics.provider, heartbeat=5, **options
    ) as conn:
        while conn.stats.pongs < 2:
            await clock.sleep(5)
        count, _ = metrics.collect()[at("wsclient.heartbeat.round_trip")]
        assert count == conn.stats.pongs


async def test_a_stale_feed_is_counted(
    fault_server: StartServer, metrics: Metrics, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(then=[Hold()])
    async with wsclient.connect(
        server.url, name="feed", metrics=metrics.provider, stale_after=10, **options
    ) as conn:
        await events.wait_count(wsclient.Stale, 1)
        await conn.close()
    kept = {"wsclient.kept_waiting": False}
    assert metrics.collect()[at("wsclient.stale", **kept)] == 1


async def test_connections_that_share_a_name_are_summed(
    fault_server: StartServer, metrics: Metrics, options: dict[str, Any]
) -> None:
    server = await fault_server(then=[Send("x"), Close(1000)])
    async with wsclient.Session(metrics=metrics.provider, name="feed", **options) as session:
        for _ in range(2):
            async with session.connect(server.url) as conn:
                assert [msg.data async for msg in conn] == ["x"]
        async with session.connect(server.url, name="other") as conn:
            assert [msg.data async for msg in conn] == ["x"]
        del conn
        gc.collect()  # the ended connections are gone: their counts stay
        points = metrics.collect()
    received = {"wsclient.direction": "received"}
    assert points[at("wsclient.messages", **received)] == 2
    other = ("wsclient.messages", frozenset({"wsclient.name": "other", **received}.items()))
    assert points[other] == 1
    assert points[at("wsclient.connects")] == 2


async def test_ended_connections_are_let_go_without_a_collection(
    metrics: Metrics, options: dict[str, Any]
) -> None:
    async with wsclient.Session(metrics=metrics.provider, **options) as session:
        for _ in range(200):
            await session.connect("ws://127.0.0.1:9/", name="feed").close()  # never opened
        assert len(_Instruments.of(metrics.provider).connections) < 64
    closed = (
        "wsclient.messages",
        frozenset({"wsclient.name": "feed", "wsclient.direction": "sent"}.items()),
    )
    assert metrics.collect()[closed] == 0


async def test_no_secret_is_ever_exported(
    fault_server: StartServer, metrics: Metrics, options: dict[str, Any]
) -> None:
    token, bearer = "Tok3nInTheQuery", "B3arerInTheHeader"
    server = await fault_server([[Send("x"), Close(4000, f"bad {token} {bearer}")], [Reject(401)]])
    url = server.url.with_path(f"/ws/{token}").with_query(token=token)
    headers = {"Authorization": f"Bearer {bearer}"}
    async with wsclient.connect(url, headers=headers, metrics=metrics.provider, **options) as conn:
        with pytest.raises(HandshakeRejected):
            async for _ in conn:
                pass
    points = metrics.collect()
    names = {dict(attributes)["wsclient.name"] for _, attributes in points}
    assert names == {f"127.0.0.1:{server.url.port}"}  # the host and port: no path, no query
    assert "wsclient.disconnects" in metrics.json
    assert token not in metrics.json
    assert bearer not in metrics.json


async def test_the_global_meter_provider_is_used_with_true(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Send("x"), Close(1000)]])
    async with wsclient.connect(server.url, metrics=True, **options) as conn:
        assert [msg.data async for msg in conn] == ["x"]


def test_a_wrong_metrics_value_is_refused() -> None:
    with pytest.raises(
        TypeError, match="metrics must be a bool or an OpenTelemetry MeterProvider"
    ):
        Options(metrics="yes")  # type: ignore[arg-type]


def test_metrics_without_opentelemetry_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics", None)  # as if not installed
    with pytest.raises(ImportError, match=r"aiohttp-wsclient\[otel\]"):
        Options(metrics=True)
    Options()  # off: nothing is imported
