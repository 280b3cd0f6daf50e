"""The feeds file of ``wsclient bridge --feeds`` and rendezvous hashing: pure.

(``test_feeds.py`` is about feeds that never stall; this is ``wsclient.feeds``.)
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from pathlib import Path

import pytest

from wsclient.feeds import Feed, assign, load_feeds, owners, parse_feeds, parse_worker, weight

GOOD = """
[[feed]]
name = "btcusdt"
url = "wss://stream.example.com/ws"
subject = "ticks.btcusdt"
msg_id = "/u"
subscribe = ['{"op": "subscribe"}', {op = "ping"}]
heartbeat = 15
max_queue = 500

[[feed]]
name = "ethusdt"
urls = ["wss://a.example.com/ws", "wss://b.example.com/ws?token=t0ps3cret"]
subject = "ticks.ethusdt"
"""


def test_a_good_file_gives_its_feeds_in_order() -> None:
    btc, eth = parse_feeds(GOOD)
    assert btc == Feed(
        "btcusdt",
        ("wss://stream.example.com/ws",),
        "ticks.btcusdt",
        "/u",
        ('{"op": "subscribe"}', {"op": "ping"}),
        {"heartbeat": 15, "max_queue": 500},
    )
    assert eth.urls == ("wss://a.example.com/ws", "wss://b.example.com/ws?token=t0ps3cret")
    assert (eth.msg_id, eth.subscribe, eth.options) == (None, (), {})


def test_load_feeds_reads_the_file_and_names_it_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(GOOD)
    assert [f.name for f in load_feeds(path)] == ["btcusdt", "ethusdt"]
    path.write_text("[[feed]\n")
    with pytest.raises(ValueError, match=f"{path}: not valid TOML"):
        load_feeds(path)


def feed(**fields: object) -> str:
    base: dict[str, object] = {"name": "f1", "url": "ws://h/x", "subject": "s.f1", **fields}
    lines = [
        f"{key} = {value!r}".replace("'", '"') for key, value in base.items() if value is not None
    ]
    return "[[feed]]\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (feed(name=None), "feed #1: 'name' must be a non-empty string"),
        (feed(subject=None), "feed 'f1': 'subject' must be a non-empty string"),
        (feed(subject="s.*"), "feed 'f1': 'subject': subject 's.*': a wildcard"),
        (feed(subject="a..b"), "feed 'f1': 'subject': subject 'a..b' has an empty token"),
        (feed(subject="a b"), "feed 'f1': 'subject': subject 'a b' must be non-empty, without"),
        (feed(url=None), "feed 'f1': give exactly one of 'url' or 'urls'"),
        (feed(urls=["ws://h/y"]), "feed 'f1': give exactly one of 'url' or 'urls'"),
        (feed(url=None, urls=[]), "feed 'f1': 'urls' must be a non-empty list"),
        (feed(url="ftp://h/x?token=s3cret"), "feed 'f1': 'url' has an entry that is not a ws"),
        (feed(msg_id="seq"), "feed 'f1': 'msg_id': JSON Pointer 'seq' must start with '/'"),
        (feed(subscribe="hello"), "feed 'f1': 'subscribe' must be a list of strings or tables"),
        (feed(heartbeat=-1), "feed 'f1': 'heartbeat' must be a positive number, got -1"),
        (feed(max_queue=1.5), "feed 'f1': 'max_queue' must be a positive number, got 1.5"),
        (feed(stale_after="1m"), "feed 'f1': 'stale_after' must be a positive number"),
        (feed(sequence="/seq"), "feed 'f1': unknown field(s) sequence"),
        (feed() + feed(), "feeds file: feed 'f1': 'name' is used twice"),
        ("", "feeds file: no [[feed]] tables"),
        ("feed = 3", "feeds file: no [[feed]] tables"),
        ('[[feeds]]\nname = "x"', "feeds file: unknown top-level key(s) feeds"),
        ("[[feed]]\n[feed.x]\n", "feed #1: 'name' must be"),
    ],
)
def test_a_wrong_file_is_a_value_error_naming_the_feed_and_the_field(
    text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_feeds(text)
    assert "s3cret" not in str(caught.value)  # a URL is never echoed: it may carry a token


@pytest.mark.parametrize("text", ["1/3", "3/3", "1/1"])
def test_worker_is_i_of_n(text: str) -> None:
    index, count = parse_worker(text)
    assert f"{index}/{count}" == text


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "-1/3", "1/0", ""])
def test_a_wrong_worker_says_what_is_wanted(text: str) -> None:
    with pytest.raises(ValueError, match=r"--worker wants I/N with 1 <= I <= N"):
        parse_worker(text)


# -- rendezvous hashing ---------------------------------------------------------


def test_the_weight_is_the_same_in_every_process_and_version() -> None:
    """blake2b of the name and the worker: a change would move every feed."""
    assert weight("btcusdt", 1) == 15076499595535466302
    assert owners("btcusdt", 3, 2) == [3, 1]


def test_twelve_feeds_on_three_workers_with_two_replicas_each_run_on_exactly_two() -> None:
    feeds = [Feed(f"f{i:02}", ("ws://h/x",), f"s.f{i:02}") for i in range(12)]
    runs = Counter(f.name for worker in (1, 2, 3) for f in assign(feeds, worker, 3, 2))
    assert runs == {f.name: 2 for f in feeds}


def test_each_feed_gets_distinct_workers_and_all_when_there_are_fewer() -> None:
    for name in map(str, range(200)):
        chosen = owners(name, 5, 3)
        assert len(set(chosen)) == 3
        assert set(chosen) <= {1, 2, 3, 4, 5}
    assert sorted(owners("x", 2, 3)) == [1, 2]


def test_the_load_is_balanced_over_many_feeds() -> None:
    names = [f"feed-{i}" for i in range(3000)]
    load = Counter(w for name in names for w in owners(name, 6, 2))
    mean = statistics.mean(load.values())
    assert mean == 1000
    assert max(abs(n - mean) for n in load.values()) < 0.1 * mean, load


def test_adding_a_worker_moves_only_feeds_onto_it() -> None:
    names = [f"feed-{i}" for i in range(2000)]
    moved = 0
    for name in names:
        before, after = set(owners(name, 5, 2)), set(owners(name, 6, 2))
        if before != after:
            moved += 1
            assert 6 in after
            assert len(before - after) == 1  # one replica moved to the new one
    # Each feed has 2 of 6 places; about a third of the feeds gain worker 6.
    assert 0.28 < moved / len(names) < 0.39


def test_removing_a_worker_moves_only_the_feeds_it_had() -> None:
    names = [f"feed-{i}" for i in range(2000)]
    for name in names:
        before, after = set(owners(name, 6, 2)), set(owners(name, 5, 2))
        if 6 in before:
            assert before - {6} < after  # the other replica stays where it was
        else:
            assert before == after


@pytest.mark.parametrize(
    ("worker", "workers", "replicas", "message"),
    [
        (0, 3, 2, "worker must be in 1..3, got 0"),
        (1, 3, 0, "workers and replicas must be >= 1, got 3 and 0"),
    ],
)
def test_assign_refuses_impossible_numbers(
    worker: int, workers: int, replicas: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        assign([Feed("a", ("ws://h/",), "s")], worker, workers, replicas)


def test_the_example_feeds_file_is_valid() -> None:
    path = Path(__file__).parent.parent / "examples" / "feeds.toml"
    btc, eth = load_feeds(path)
    assert (btc.name, btc.msg_id, btc.options) == (
        "btcusdt",
        "/u",
        {"heartbeat": 20, "stale_after": 60},
    )
    assert eth.subscribe == ({"op": "subscribe", "args": ["ethusdt"]},)
