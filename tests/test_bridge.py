"""``wsclient bridge`` on the real engine: nats-server with JetStream on a free
loopback port and a temporary store, TickFeed replicas as the feeds.

The feeds tick on a FakeClock that only the test advances, so every tick goes
out when the test says (after the bridges are connected), never by a timer.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from nats.js.api import StreamConfig

from wsclient import ReconnectPolicy, Stop
from wsclient.bridge import Bridge, BridgeError, Nats, NoStream, PublishFailed, bridge
from wsclient.bridge_cli import EXIT_NO_STREAM, main
from wsclient.cli import describe
from wsclient.feeds import Feed, assign, load_feeds
from wsclient.session import Session
from wsclient.testing import FakeClock
from wsclient.testing.feed import TickFeed

from .nats_server import NatsServer, free_port, read_stream, until

pytestmark = pytest.mark.timeout(30)

SECRET = "s3cr3tpass"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    nats_server = NatsServer(tmp_path / "store")
    await nats_server.start()
    try:
        yield nats_server
    finally:
        await nats_server.stop()


def seq_message(seq: int) -> str:
    return json.dumps({"seq": seq, "price": 64_000 + seq})


def seqs(stored: list[bytes]) -> list[int]:
    return [json.loads(data)["seq"] for data in stored]


async def release(clock: FakeClock, upto: int, *feeds: TickFeed) -> None:
    """Let the feeds (started at 0 on ``clock``, a tick a second) send their
    ticks up to ``upto``, now, in one burst."""
    clock.advance(max(upto - clock.now(), 0))
    for feed in feeds:
        await until(lambda f=feed: f.sent == upto, f"the feed to send tick {upto}")


async def stored_count(server: NatsServer, stream: str) -> int:
    nc = await server.client()
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


class BridgeProcess:
    """``python -m wsclient bridge ...`` with its stderr collected line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *args: str) -> BridgeProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wsclient",
            "bridge",
            "--heartbeat",
            "0",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode().rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait(self) -> int:
        async with asyncio.timeout(15):
            code = await self.process.wait()
            await self._reader
        return code

    async def kill(self) -> None:
        """SIGKILL by PID (if it still runs) and reap it."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.wait()


@pytest.fixture
async def processes() -> AsyncIterator[list[BridgeProcess]]:
    started: list[BridgeProcess] = []
    try:
        yield started
    finally:
        for process in started:
            await process.kill()


async def test_two_bridges_of_one_feed_one_killed_midway_store_every_message_once_in_order(
    server: NatsServer, processes: list[BridgeProcess]
) -> None:
    await server.add_stream("TICKS", ["ticks"])
    clock = FakeClock(autojump=False)
    async with TickFeed(2, interval=1.0, clock=clock, message=seq_message) as feed:
        for url in feed.urls:  # each bridge on its own replica of the feed
            processes.append(
                await BridgeProcess.start(
                    str(url),
                    "--nats",
                    server.url,
                    "--subject",
                    "ticks",
                    "--msg-id",
                    "/seq",
                    "--subscribe",
                    "hello",
                )
            )
        for replica in feed.replicas:
            await until(lambda r=replica: r.received == ["hello"], "both bridges to subscribe")
        first, second = processes
        # The kill lands while both publish: ticks go out a few at a time.
        for upto in range(5, 121, 5):
            await release(clock, upto, feed)
            if upto == 60:
                await until(lambda: "publishing to 'ticks'" in first.text, "the first bridge")
                await first.kill()
        await until(lambda: _at_least(server, "TICKS", 120), "120 messages stored", within=15)
        stored = await read_stream(server, "TICKS")
        assert second.process.returncode is None  # still bridging
        await second.kill()  # before the feed's servers close: they wait for open sockets
    assert seqs(stored) == list(range(1, 121))  # each once (two bridges published), in order
    assert first.process.returncode == -signal.SIGKILL


async def _at_least(server: NatsServer, stream: str, count: int) -> bool:
    return await stored_count(server, stream) >= count


async def test_nats_server_restarted_mid_stream_loses_nothing_the_bridge_took(
    server: NatsServer,
) -> None:
    await server.add_stream("TICKS", ["ticks"])
    clock = FakeClock(autojump=False)
    lines: list[str] = []
    async with TickFeed(1, interval=1.0, clock=clock, message=seq_message) as feed:
        link = await Nats.connect(server.url, log=lines.append, reconnect_wait=0.05)
        async with Session() as session:
            conn = session.connect(feed.urls[0])
            worker = Bridge(conn, link, "ticks", msg_id="/seq", ack_timeout=0.5, log=lines.append)
            task = asyncio.create_task(worker.run())
            await until(lambda: feed.replicas[0].sockets == 1, "the bridge to connect")
            await release(clock, 50, feed)
            await until(lambda: worker.stats.published == 50, "50 messages published")
            await server.stop()  # SIGKILL: a crash, mid-stream
            await release(clock, 80, feed)  # taken while the server is down: retried
            await until(lambda: worker.stats.retries > 0, "a publish to be retried")
            await server.start()  # same port, same store
            await release(clock, 100, feed)
            await until(lambda: worker.stats.published == 100, "100 messages published")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await link.close()
    stored = await read_stream(server, "TICKS")
    assert worker.stats.taken == 100
    assert seqs(stored) == list(range(1, 101))  # nothing taken is missing, nothing twice
    assert "nats: disconnected from nats://127.0.0.1" in "\n".join(lines)
    assert any(line.startswith("nats: reconnected to") for line in lines)
    assert any("publish of message 51 failed" in line and "retry 1 in" in line for line in lines)


async def test_the_bridge_publishes_on_across_a_feed_restart_and_hides_the_nats_password(
    server: NatsServer,
) -> None:
    await server.add_stream("TICKS", ["ticks"])
    clock = FakeClock(autojump=False)
    lines: list[str] = []
    # Two seeds, as for a cluster: the first is down, nats-py tries the other.
    down = f"nats://alice:{SECRET}@127.0.0.1:{free_port()}"
    nats_url = down + "," + server.url.replace("nats://", f"nats://alice:{SECRET}@")
    async with TickFeed(2, interval=1.0, clock=clock, message=seq_message) as feed:
        link = await Nats.connect(nats_url, log=lines.append)
        async with Session() as session:
            conn = session.connect(feed.urls, on_event=lambda e: lines.append(describe(e)))
            worker = Bridge(conn, link, "ticks", msg_id="/seq", log=lines.append)
            task = asyncio.create_task(worker.run())
            await until(lambda: feed.replicas[0].sockets == 1, "the bridge to connect")
            await release(clock, 10, feed)
            await until(lambda: worker.stats.published == 10, "10 published")
            await feed.replicas[0].restart(1012)  # the next endpoint at once
            await until(lambda: feed.replicas[1].sockets == 1, "the bridge on the second")
            await release(clock, 20, feed)
            await until(lambda: worker.stats.published == 20, "20 published")
            shown = repr(worker)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await link.close()
    assert seqs(await read_stream(server, "TICKS")) == list(range(1, 21))
    assert "closed by server: 1012 SERVICE_RESTART 'restarting'" in "\n".join(lines)
    seeds = f"nats://alice:***@127.0.0.1:{down.rsplit(':', 1)[1]},nats://alice:***@127.0.0.1:{server.port}"
    assert shown == f"<Bridge to 'ticks' on {seeds}: {worker.stats}>"
    assert f"nats: connected to {seeds}" in lines
    assert SECRET not in shown + "\n".join(lines)


def feeds_file(tmp_path: Path, feeds: list[TickFeed]) -> tuple[Path, list[Feed]]:
    """A feeds file of ``feeds`` named f01..f12, each on subject feeds.<name>."""
    lines = []
    for index, feed in enumerate(feeds, 1):
        lines += [
            "[[feed]]",
            f'name = "f{index:02}"',
            f'url = "{feed.urls[0]}"',
            f'subject = "feeds.f{index:02}"',
            'msg_id = "/id"',
            'subscribe = ["hello"]',
            "",
        ]
    path = tmp_path / "feeds.toml"
    path.write_text("\n".join(lines))
    return path, load_feeds(path)


def id_message(name: str) -> Callable[[int], str]:
    return lambda seq: json.dumps({"id": f"{name}-{seq}", "seq": seq})


async def test_three_workers_twelve_feeds_two_replicas_a_worker_killed_every_feed_flows_once(
    server: NatsServer, processes: list[BridgeProcess], tmp_path: Path
) -> None:
    await server.add_stream("FEEDS", ["feeds.>"])
    clock = FakeClock(autojump=False)
    feeds = [
        TickFeed(1, interval=1.0, clock=clock, message=id_message(f"f{i:02}"))
        for i in range(1, 13)
    ]
    for feed in feeds:
        await feed.__aenter__()
    try:
        path, parsed = feeds_file(tmp_path, feeds)
        mine = {w: {f.name for f in assign(parsed, w, 3, 2)} for w in (1, 2, 3)}
        for worker in (1, 2, 3):
            processes.append(
                await BridgeProcess.start(
                    "--feeds",
                    str(path),
                    "--worker",
                    f"{worker}/3",
                    "--replicas",
                    "2",
                    "--nats",
                    server.url,
                )
            )
        for feed in feeds:  # each feed runs on exactly two workers
            await until(lambda f=feed: f.replicas[0].received == ["hello"] * 2, "two bridges")
        for worker, process in enumerate(processes, 1):
            count = len(mine[worker])
            await until(lambda p=process, n=count: p.text.count("publishing to") == n, "its feeds")
            published = {
                line.split("[")[1].split("]")[0]
                for line in process.lines
                if "publishing to" in line
            }
            assert published == mine[worker]
        for upto in range(5, 31, 5):
            await release(clock, upto, *feeds)
        await until(lambda: _at_least(server, "FEEDS", 12 * 30), "12 x 30 messages")
        await processes[0].kill()
        for upto in range(35, 61, 5):
            await release(clock, upto, *feeds)
        await until(lambda: _at_least(server, "FEEDS", 12 * 60), "12 x 60 messages", within=15)
        for index in range(1, 13):
            stored = await read_stream(server, "FEEDS", f"feeds.f{index:02}")
            assert seqs(stored) == list(range(1, 61)), f"feed f{index:02}"
        assert await stored_count(server, "FEEDS") == 12 * 60
    finally:
        for process in processes:  # before the feed's servers close: they wait for sockets
            await process.kill()
        for feed in feeds:
            await feed.__aexit__(None, None, None)


async def test_a_subject_without_a_stream_is_a_clear_error_and_exit_8_without_secrets(
    server: NatsServer, processes: list[BridgeProcess]
) -> None:
    nats_url = server.url.replace("nats://", f"nats://alice:{SECRET}@")
    processes.append(
        await BridgeProcess.start(
            "ws://127.0.0.1:9/feed", "--nats", nats_url, "--subject", "orphan.subject"
        )
    )
    assert await processes[0].wait() == EXIT_NO_STREAM
    text = processes[0].text
    assert "no JetStream stream captures subject 'orphan.subject': create one" in text
    assert "nats: connected to nats://alice:***@127.0.0.1" in text
    assert SECRET not in text


async def test_the_python_api_raises_no_stream_before_opening_the_feed(
    server: NatsServer,
) -> None:
    async with TickFeed(1, clock=FakeClock(autojump=False)) as feed:
        no_stream = re.escape("no JetStream stream captures subject 'nothing.here'")
        with pytest.raises(NoStream, match=no_stream):
            await bridge(feed.urls[0], nats=server.url, subject="nothing.here", log=print)
        assert feed.replicas[0].handshakes == 0


async def test_a_message_without_an_id_is_published_without_one_counted_and_told(
    server: NatsServer,
) -> None:
    """The choice: a control message (no id, not JSON) is not a reason to stop a feed."""
    await server.add_stream("TICKS", ["ticks"])
    clock = FakeClock(autojump=False)
    messages = {
        1: '{"seq": 1}',
        2: "not json",
        3: '{"other": 3}',
        4: '{"seq": 4}',
        5: '{"seq": 1}',
        6: '{"seq": null}',
        7: '{"seq": "x7"}',
        8: '{"seq": 2.5}',
    }
    lines: list[str] = []
    async with TickFeed(1, interval=1.0, clock=clock, message=messages.__getitem__) as feed:
        run = asyncio.create_task(
            bridge(
                feed.urls[0],
                nats=server.url,
                subject="ticks",
                msg_id="/seq",
                log=lines.append,
                policy=ReconnectPolicy.default().with_rule(1000, Stop("the feed ended")),
            )
        )
        await until(lambda: feed.replicas[0].sockets == 1, "the bridge to connect")
        await release(clock, 8, feed)
        await until(lambda: _at_least(server, "TICKS", 7), "7 messages stored")
        await feed.replicas[0].restart(1000)
        stats = await asyncio.wait_for(run, 10)
    # The 5th repeats the 1st's id: JetStream drops it as a duplicate.
    kept = [1, 2, 3, 4, 6, 7, 8]
    assert await read_stream(server, "TICKS") == [messages[n].encode() for n in kept]
    assert await msg_ids(server, "TICKS") == ["1", None, None, "4", None, "x7", "2.5"]
    assert (stats.taken, stats.published, stats.without_id, stats.duplicates) == (8, 8, 3, 1)
    told = [line for line in lines if "has no id" in line]
    assert told == [  # the 1st, 2nd, 4th, 8th...: the 3rd (message 6) is only counted
        "message 2 has no id at --msg-id '/seq' (not JSON): "
        "published without Nats-Msg-Id (1 so far)",
        "message 3 has no id at --msg-id '/seq' (no member 'seq' at token 1): "
        "published without Nats-Msg-Id (2 so far)",
    ]
    assert f"feed ended: {stats}" in lines


async def msg_ids(server: NatsServer, stream: str) -> list[str | None]:
    nc = await server.client()
    try:
        js = nc.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        headers = [(await js.get_msg(stream, seq)).headers or {} for seq in range(1, last + 1)]
        return [h.get("Nats-Msg-Id") for h in headers]
    finally:
        await nc.close()


async def run_until_it_fails(
    server: NatsServer,
    stream: StreamConfig,
    after: Callable[[], Awaitable[None]],
    message: Callable[[int], str] = seq_message,
) -> tuple[Exception, list[str]]:
    """Bridge a feed to ``stream``; 3 messages, then ``after()``, then a 4th:
    what the bridge fails with, and its lines."""
    nc = await server.client()
    await nc.jetstream().add_stream(stream)
    clock = FakeClock(autojump=False)
    lines: list[str] = []
    async with TickFeed(1, interval=1.0, clock=clock, message=message) as feed:
        link = await Nats.connect(server.url, log=lines.append)
        async with Session() as session:
            worker = Bridge(session.connect(feed.urls[0]), link, "ticks", log=lines.append)
            task = asyncio.create_task(worker.run())
            await until(lambda: feed.replicas[0].sockets == 1, "the bridge to connect")
            await release(clock, 3, feed)
            await until(lambda: worker.stats.published == 3, "3 published")
            await after()
            await release(clock, 4, feed)
            with pytest.raises(BridgeError) as caught:
                await asyncio.wait_for(task, 10)
        await link.close()
    await nc.close()
    return caught.value, lines


async def test_a_stream_deleted_under_the_bridge_fails_it_at_once_with_the_clear_error(
    server: NatsServer,
) -> None:
    async def delete() -> None:
        nc = await server.client()
        await nc.jetstream().delete_stream("TICKS")
        await nc.close()

    error, _ = await run_until_it_fails(
        server, StreamConfig(name="TICKS", subjects=["ticks"]), delete
    )
    assert isinstance(error, NoStream)
    assert str(error).startswith("no JetStream stream captures subject 'ticks': create one")


async def test_a_publish_jetstream_refuses_fails_the_bridge_at_once(server: NatsServer) -> None:
    """A message over the stream's size limit would be refused again and again."""

    async def nothing() -> None:
        pass

    limited = StreamConfig(name="TICKS", subjects=["ticks"], max_msg_size=100)
    big = {4: "x" * 101}
    error, lines = await run_until_it_fails(
        server, limited, nothing, lambda seq: big.get(seq) or seq_message(seq)
    )
    assert isinstance(error, PublishFailed)
    assert (error.taken, error.published) == (4, 3)
    assert str(error).startswith("message 4 to 'ticks' was refused by JetStream (")
    assert "message size exceeds maximum allowed" in error.cause
    assert not any("retry" in line for line in lines)


async def test_a_publish_that_cannot_succeed_fails_loudly_naming_what_was_not_published(
    server: NatsServer,
) -> None:
    await server.add_stream("TICKS", ["ticks"])
    clock = FakeClock(autojump=False)
    lines: list[str] = []
    async with TickFeed(1, interval=1.0, clock=clock, message=seq_message) as feed:
        link = await Nats.connect(server.url, log=lines.append, reconnect_wait=0.05)
        async with Session() as session:
            worker = Bridge(
                session.connect(feed.urls[0]),
                link,
                "ticks",
                publish_timeout=0.3,
                ack_timeout=0.1,
                log=lines.append,
            )
            task = asyncio.create_task(worker.run())
            await until(lambda: feed.replicas[0].sockets == 1, "the bridge to connect")
            await release(clock, 3, feed)
            await until(lambda: worker.stats.published == 3, "3 published")
            await server.stop()
            await release(clock, 4, feed)
            with pytest.raises(PublishFailed) as caught:
                await asyncio.wait_for(task, 10)
        await link.close()
    assert (caught.value.taken, caught.value.published) == (4, 3)
    assert str(caught.value).startswith("message 4 to 'ticks' not acknowledged within 0.3 s (")
    assert "1 message(s) taken from the feed but not published (4 taken, 3 published)" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ws://h/x", "--subject", "s"], "--nats NATS_URL (or $NATS_URL) is required"),
        (["ws://h/x", "--subject", "s", "--nats", "http://u:pw@h"], "must look like nats://"),
        (["ws://h/x", "--subject", "s", "--nats", "not a url"], "must look like nats://"),
        (["ws://h/x", "--subject", "s", "--nats", "nats://a,nats://"], "must look like nats://"),
        (["ws://h/x", "--nats", "nats://h", "--subject", "s", "--msg-id", "seq"], "must start"),
        (["ws://h/x", "--nats", "nats://h", "--subject", "s.>"], "a wildcard"),
        (["--nats", "nats://h", "--subject", "s"], "give a feed URL and --subject"),
        (["--nats", "nats://h", "--feeds", "f.toml"], "--feeds needs --worker I/N"),
        (["--nats", "nats://h", "--feeds", "f", "--worker", "4/3"], "--worker wants I/N"),
        (["ws://h/x", "--nats", "nats://h", "--feeds", "f", "--worker", "1/1"], "from the file"),
        (["ws://h/x", "--nats", "nats://h", "--subject", "s", "--worker", "1/2"], "with --feeds"),
    ],
)
def test_bad_usage_is_exit_2_with_a_line_that_names_it(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    assert main(args) == 2
    assert message in capsys.readouterr().err


async def test_the_bench_measures_the_bridge_beside_nats_py_in_one_run() -> None:
    from bench.bridge import measure  # noqa: PLC0415 - starts the bench's server process

    result = await measure(300, 150, 1)
    direct, bridged = result["direct_msgs_per_s"].median, result["bridge_msgs_per_s"].median
    assert direct > 0
    assert bridged > 0
    assert result["bridge_over_direct"].median == pytest.approx(bridged / direct)
