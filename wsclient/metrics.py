"""OpenTelemetry metrics for connections (the ``otel`` extra: opentelemetry-api).

Turned on per connection or per session with the ``metrics`` option:
``metrics=True`` records into the global meter provider, and
``metrics=provider`` into a given one. Off (the default), this module is not
even imported and nothing is recorded.

It is built on what a connection reports anyway, so that receiving and
sending pay nothing for it: the counters of lifecycle events are recorded
from the events (beside the application's own ``on_event``), and the
message and byte counts, duplicates, gaps and the outbox's depth are
observable instruments that read ``conn.stats`` when the exporter collects.
Only a measured round trip (the heartbeat's ping, ``conn.ping()``) is
recorded as it happens, a few times a minute.

Every data point carries ``wsclient.name`` (the ``name`` option, by default
the host and port: never a path, a query or a header, where secrets live).
Connections that share a name are summed. The instruments:

=============================  ==================  =========================================
name                           kind                attributes besides ``wsclient.name``
=============================  ==================  =========================================
wsclient.connects              counter             (successful handshakes)
wsclient.connect_failures      counter             ``wsclient.failure`` (refused, dns,
                                                   handshake...), ``http.response.status_code``
wsclient.disconnects           counter             ``wsclient.close_code`` (effective),
                                                   ``wsclient.initiator`` (server, client,
                                                   transport)
wsclient.reconnect.delay       histogram (s)       ``wsclient.decision`` (Reconnect, HoldOff...)
wsclient.holdoffs              counter             (1013, Retry-After...)
wsclient.give_ups              counter             ``wsclient.failure``
wsclient.stale                 counter             ``wsclient.kept_waiting``
wsclient.heartbeat.round_trip  histogram (s)
wsclient.messages              observable counter  ``wsclient.direction`` (received, sent)
wsclient.bytes                 observable counter  ``wsclient.direction``
wsclient.duplicates            observable counter
wsclient.gaps                  observable counter
wsclient.outbox.depth          observable gauge    (sends waiting while reconnecting)
wsclient.open                  observable gauge    (connections with an open socket)
=============================  ==================  =========================================
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from opentelemetry.metrics import (
    CallbackOptions,
    MeterProvider,
    Observation,
    get_meter_provider,
)

from .events import (
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    GaveUp,
    HoldingOff,
    ReconnectScheduled,
    Stale,
)
from .options import Options
from .state import State
from .stats import Meter
from .tasks import result

if TYPE_CHECKING:
    from .connection import Connection
    from .stats import Stats

__all__ = ["attach"]

NAME = "wsclient.name"
_ROUND_TRIP_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_DELAY_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def attach(connection: Connection, options: Options, meter: Meter) -> Options:
    """Record ``connection``'s metrics into the provider ``options.metrics``
    names: its observable counts are read from ``connection.stats`` (which
    reads ``meter``), its round trips come from ``meter``; returns the
    options with an ``on_event`` that records the events, then calls the
    application's."""
    provider = get_meter_provider() if options.metrics is True else options.metrics
    assert not isinstance(provider, bool)  # (checked by Options)
    instruments = _Instruments.of(provider)
    instruments.connections.add(connection)
    attributes = {NAME: connection.name}
    histogram = instruments.round_trip
    meter.on_round_trip = lambda seconds: histogram.record(seconds, attributes)
    record = instruments.recorder(connection.name)
    user = options.on_event

    def on_event(event: Event) -> object:
        record(event)  # first: an application callback that raises skips nothing
        return None if user is None else result(user(event))

    return dataclasses.replace(options, on_event=on_event)


class _Instruments:
    """The instruments of one meter provider, and the connections they read."""

    @classmethod
    def of(cls, provider: MeterProvider) -> _Instruments:
        """The instruments made on ``provider`` (made at its first connection:
        an observable instrument made twice would keep only one callback)."""
        made = _MADE.get(provider)
        if made is None:
            made = _MADE[provider] = cls(provider)
        return made

    def __init__(self, provider: MeterProvider) -> None:
        self.connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        meter = provider.get_meter("wsclient", _version())
        counter = meter.create_counter
        self.connects = counter("wsclient.connects", "{connection}", "Successful handshakes")
        self.connect_failures = counter(
            "wsclient.connect_failures", "{attempt}", "Attempts that failed before the handshake"
        )
        self.disconnects = counter(
            "wsclient.disconnects", "{connection}", "Open connections that ended"
        )
        self.holdoffs = counter("wsclient.holdoffs", "{wait}", "Hold-offs (1013, Retry-After)")
        self.give_ups = counter("wsclient.give_ups", "{connection}", "Connections failed for good")
        self.stale = counter("wsclient.stale", "{event}", "Feeds found without data")
        self.delay = meter.create_histogram(
            "wsclient.reconnect.delay",
            "s",
            "Waits before the next attempt",
            explicit_bucket_boundaries_advisory=_DELAY_BUCKETS,
        )
        self.round_trip = meter.create_histogram(
            "wsclient.heartbeat.round_trip",
            "s",
            "Ping to pong",
            explicit_bucket_boundaries_advisory=_ROUND_TRIP_BUCKETS,
        )
        observe = meter.create_observable_counter
        observe("wsclient.messages", [self._messages], "{message}", "Data messages")
        observe("wsclient.bytes", [self._bytes], "By", "Payload bytes of data messages")
        observe("wsclient.duplicates", [self._field("duplicates")], "{message}", "Dropped")
        observe("wsclient.gaps", [self._field("gaps")], "{gap}", "Jumps in a stream's numbering")
        gauge = meter.create_observable_gauge
        gauge("wsclient.outbox.depth", [self._field("buffered")], "{message}", "Sends waiting")
        gauge("wsclient.open", [self._open], "{connection}", "Connections with an open socket")

    def recorder(self, name: str) -> Callable[[Event], None]:
        """Records the events of the connection called ``name``."""
        base = {NAME: name}

        def record(event: Event) -> None:
            if isinstance(event, Connected):
                self.connects.add(1, base)
            elif isinstance(event, Disconnected):
                attributes: dict[str, str | int] = {
                    **base,
                    "wsclient.initiator": event.initiated_by.value,
                }
                if event.code is not None:
                    attributes["wsclient.close_code"] = event.code
                self.disconnects.add(1, attributes)
            elif isinstance(event, ConnectFailed):
                self.connect_failures.add(1, _failure(base, event))
            elif isinstance(event, ReconnectScheduled):
                decision = type(event.decision).__name__
                self.delay.record(event.delay, {**base, "wsclient.decision": decision})
            elif isinstance(event, HoldingOff):
                self.holdoffs.add(1, base)
            elif isinstance(event, GaveUp):
                self.give_ups.add(1, _failure(base, event))
            elif isinstance(event, Stale):
                self.stale.add(1, {**base, "wsclient.kept_waiting": event.kept_waiting})

        return record

    # -- observed when collected: read from conn.stats ---------------------------------

    def _stats(self) -> Iterable[tuple[str, Stats]]:
        for connection in list(self.connections):
            yield connection.name, connection.stats

    def _sums(self, read: Callable[[Stats], int], **extra: str) -> list[Observation]:
        totals: dict[str, int] = {}
        for name, stats in self._stats():
            totals[name] = totals.get(name, 0) + read(stats)
        return [Observation(total, {NAME: name, **extra}) for name, total in totals.items()]

    def _messages(self, options: CallbackOptions) -> list[Observation]:
        return self._sums(lambda s: s.messages_in, **{"wsclient.direction": "received"}) + (
            self._sums(lambda s: s.messages_out, **{"wsclient.direction": "sent"})
        )

    def _bytes(self, options: CallbackOptions) -> list[Observation]:
        return self._sums(lambda s: s.bytes_in, **{"wsclient.direction": "received"}) + (
            self._sums(lambda s: s.bytes_out, **{"wsclient.direction": "sent"})
        )

    def _field(self, field: str) -> Callable[[CallbackOptions], list[Observation]]:
        def observe(options: CallbackOptions) -> list[Observation]:
            return self._sums(lambda stats: int(getattr(stats, field)))

        return observe

    def _open(self, options: CallbackOptions) -> list[Observation]:
        return self._sums(lambda stats: int(stats.state is State.CONNECTED))


_MADE: weakref.WeakKeyDictionary[MeterProvider, _Instruments] = weakref.WeakKeyDictionary()


def _failure(base: dict[str, str], event: ConnectFailed | GaveUp) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {**base, "wsclient.failure": event.cause.kind.value}
    if event.cause.status is not None:
        attributes["http.response.status_code"] = event.cause.status
    return attributes


def _version() -> str:
    try:
        return version("aiohttp-wsclient")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"
