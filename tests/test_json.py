"""JSON decoding: the stdlib's ``json.loads`` unless the application passes
``loads=``, whatever else happens to be installed (orjson is in the dev extra,
so these tests would see it change the results)."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

import wsclient
from wsclient.testing import Close, Send
from wsclient.testing.plugin import StartServer

# Inputs on which orjson and the stdlib disagree.
NAN = '{"x": NaN}'
HUGE = '{"x": 1e400}'
LONG = '{"x": 123456789012345678901234567890}'


def check_stdlib(decoded: list[Any]) -> None:
    nan, huge, long = (d["x"] for d in decoded)
    assert math.isnan(nan)
    assert huge == math.inf
    assert long == 123456789012345678901234567890
    assert isinstance(long, int)


async def test_receive_json_uses_the_stdlib_decoder(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Send(NAN), Send(HUGE), Send(LONG), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        check_stdlib([await conn.receive_json() for _ in range(3)])


async def test_iter_json_uses_the_stdlib_decoder(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Send(NAN), Send(HUGE), Send(LONG), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        check_stdlib([item async for item in conn.iter_json()])


async def test_orjson_is_an_opt_in(fault_server: StartServer, options: dict[str, Any]) -> None:
    server = await fault_server([[Send(LONG), Send(NAN), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert isinstance((await conn.receive_json(loads=orjson.loads))["x"], float)
        with pytest.raises(orjson.JSONDecodeError):
            await conn.receive_json(loads=orjson.loads)


async def test_stream_decodes_only_with_the_given_loads(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Send(LONG), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        items = [item async for item in conn.stream(loads=orjson.loads)]
    assert items[-1] == {"x": float(123456789012345678901234567890)}
