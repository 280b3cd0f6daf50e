"""The pytest plugin, as a user's project enables it (in a separate pytest run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"

CONFTEST = 'pytest_plugins = ["wsclient.testing"]\n'

TEST_MY_BOT = """
import pytest
import wsclient
from wsclient.testing import Close, Hold, Send


@pytest.mark.asyncio
async def test_my_bot_rides_through_a_restart(ws_server, fake_clock):
    server = await ws_server([[Send("a"), Close(1012)], [Send("b")]])
    async with wsclient.connect(server.url, clock=fake_clock) as conn:
        assert (await conn.receive()).data == "a"
        assert (await conn.receive()).data == "b"
    assert 5 <= fake_clock.now() <= 30


@pytest.mark.asyncio
async def test_a_silent_server_is_caught_by_the_heartbeat(ws_server, fake_clock):
    server = await ws_server([[Hold(pong=False)], [Send("back")]])
    events = []
    conn = wsclient.connect(server.url, clock=fake_clock, on_event=events.append)
    async with conn:
        assert (await conn.receive()).data == "back"
    assert events[1].code == 1006
"""


def test_the_plugin_serves_a_users_project(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_my_bot=TEST_MY_BOT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", timeout=60)
    result.assert_outcomes(passed=2)


def test_the_readme_pytest_example_runs_as_given(pytester: pytest.Pytester) -> None:
    # Copied into a fresh project as it stands, with nothing added.
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    [example] = [b for b in blocks if b.startswith("# conftest.py")]
    conftest, test_bot = example.split("# test_bot.py")
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_bot=test_bot)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=1)
