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
Connections that share a name are summed, and an ended connection's counts
stay in its name's totals (a counter never goes down). The instruments:

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
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Protocol

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
# The counts of an ended connection kept under its name; the states it ends in.
_COUNTS = ("messages_in", "messages_out", "bytes_in", "bytes_out", "duplicates", "gaps")
_ENDED = (State.CLOSED, State.FAILED)
_PRUNE_AT = 64  # connections held before the ended ones are looked for at an attach
_DELAY_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class Observed(Protocol):
    """What the observable instruments read: a name, and counts in a snapshot."""

    @property
    def name(self) -> str: ...

    @property
    def stats(self) -> Stats: ...


def observe(observed: Observed, metrics: bool | MeterProvider) -> None:
    """Read ``observed``'s counts when the exporter collects (a redundant
    connection's merge: its duplicates and gaps), recording no events."""
    provider = get_meter_provider() if metrics is True else metrics
    assert not isinstance(provider, bool)  # (off: not called)
    _Instruments.of(provider).add(observed)


def attach(connection: Connection, options: Options, meter: Meter) -> Options:
    """Record ``connection``'s metrics into the provider ``options.metrics``
    names: its observable counts are read from ``connection.stats`` (which
    reads ``meter``), its round trips come from ``meter``; returns the
    options with an ``on_event`` that records the events, then calls the
    application's."""
    provider = get_meter_provider() if options.metrics is True else options.metrics
    assert not isinstance(provider, bool)  # (checked by Options)
    instruments = _Instruments.of(provider)
    instruments.add(connection)
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
        # Held until they end (then read once more, into _retired): a
        # connection dropped unobserved must not take its counts with it.
        self.connections: set[Observed] = set()
        self._retired: dict[str, dict[str, int]] = {}  # by name: the ended ones' counts
        self._prune_at = _PRUNE_AT
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

    def add(self, connection: Observed) -> None:
        """Observe ``connection`` from now on (and let go of ended ones now
        and then: with a provider that never collects, nothing else would)."""
        if len(self.connections) >= self._prune_at:  # (``connection`` is not built yet)
            self._live()
            self._prune_at = max(_PRUNE_AT, 2 * len(self.connections))
        self.connections.add(connection)

    def _live(self) -> list[tuple[str, Stats]]:
        """The stats of the connections still going; an ended one's counts
        move to its name's retired totals (a counter must never go down)."""
        live = []
        for connection in list(self.connections):
            stats = connection.stats
            if stats.state in _ENDED:
                self.connections.discard(connection)
                kept = self._retired.setdefault(connection.name, dict.fromkeys(_COUNTS, 0))
                for field in _COUNTS:
                    kept[field] += getattr(stats, field)
            else:
                live.append((connection.name, stats))
        return live

    def _sums(self, field: str, **extra: str) -> list[Observation]:
        live = self._live()  # (first: it may retire some)
        totals = {name: kept.get(field, 0) for name, kept in self._retired.items()}
        for name, stats in live:
            totals[name] = totals.get(name, 0) + int(getattr(stats, field))
        return [Observation(total, {NAME: name, **extra}) for name, total in totals.items()]

    def _messages(self, options: CallbackOptions) -> list[Observation]:
        received, sent = {"wsclient.direction": "received"}, {"wsclient.direction": "sent"}
        return self._sums("messages_in", **received) + self._sums("messages_out", **sent)

    def _bytes(self, options: CallbackOptions) -> list[Observation]:
        received, sent = {"wsclient.direction": "received"}, {"wsclient.direction": "sent"}
        return self._sums("bytes_in", **received) + self._sums("bytes_out", **sent)

    def _field(self, field: str) -> Callable[[CallbackOptions], list[Observation]]:
        return lambda options: self._sums(field)

    def _open(self, options: CallbackOptions) -> list[Observation]:
        live = self._live()
        totals: dict[str, int] = dict.fromkeys(self._retired, 0)
        for name, stats in live:
            totals[name] = totals.get(name, 0) + (stats.state is State.CONNECTED)
        return [Observation(total, {NAME: name}) for name, total in totals.items()]


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
