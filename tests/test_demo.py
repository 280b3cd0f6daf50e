"""The demo's second act: the same 1012 restart against one connection and
against two legs, told on one timeline (the first act is run by test_cli)."""

from __future__ import annotations

import io
import re

import pytest

from wsclient.demo import _second_act

rich = pytest.importorskip("rich.console")


async def test_the_second_act_shows_the_single_connections_hole_beside_none() -> None:
    out = io.StringIO()
    await _second_act(rich.Console(file=out, no_color=True, width=100), speed=50)
    text = out.getvalue()
    single = re.search(r"single connection: back at tick #(\d+), (\d+) ticks missed", text)
    redundant = re.search(r"redundant: ticks #\d+-#(\d+), 0 missed", text)
    assert single is not None, text
    assert redundant is not None, text
    assert int(single[2]) >= 5  # 1012 to its only endpoint: 5-30 s
    assert int(redundant[1]) >= int(single[1])  # the merged stream ran on meanwhile
    assert "redundant leg 1: next attempt in 0.0 s" in text  # the leg fails over at once
