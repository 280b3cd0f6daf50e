"""The documentation is part of the contract: every code block in ``docs/``
and ``README.md`` is checked, and the reference says what the code does.

How each fenced block is checked, by its language and the HTML comment on
the line before it (invisible on the site and on GitHub):

- ``python`` with ``<!-- doc: run -->``: a complete program against local
  servers; it must exit 0 with nothing on stderr. When the next block is a
  ``text`` block marked ``<!-- doc: output -->``, stdout must equal it.
- ``python`` with ``<!-- doc: pytest -->``: a test file (``# conftest.py`` /
  ``# test_x.py`` sections), run by pytest in a fresh project.
- every ``python`` block, those above included: ``mypy --strict``, as a
  module of its own after a small prelude of the names a snippet assumes
  (``url``, ``subscribe``...); top-level ``await``/``async with`` is
  wrapped in a coroutine. A block that only includes a file (pymdownx
  snippets: ``--8<--``, a path, ``--8<--``) is that file, which
  ``test_examples.py`` runs and ``.ci/run`` type-checks.
- ``bash``, ``console``, ``text``: shell commands and output, not run.
- ``toml``: only an included ``examples/feeds.toml``, which the feeds-file
  tests parse.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import os
import pydoc
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import wsclient
from wsclient.options import Options
from wsclient.session import ConnectOptions

from . import docs_tables

ROOT = Path(__file__).parent.parent
PAGES = sorted((ROOT / "docs").rglob("*.md"))
SOURCES = [ROOT / "README.md", *PAGES]
LANGUAGES = {"python", "bash", "console", "text", "toml"}
FENCE = re.compile(
    r"(?:^<!-- doc: (?P<directive>[\w ,]+) -->\n)?^```(?P<lang>\S*)[^\n]*\n(?P<body>.*?)^```\n",
    re.MULTILINE | re.DOTALL,
)
INCLUDE = re.compile(r"\A--8<--\n(?P<paths>(?:[^\n]+\n)+)--8<--\n\Z")


@dataclass(frozen=True)
class Block:
    """One fenced code block."""

    source: Path
    line: int
    lang: str
    directive: str
    body: str

    @property
    def name(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}"

    @property
    def module(self) -> str:
        """A module name for it: ``docs_recipes_testing_md_12``."""
        return re.sub(r"\W", "_", self.name)


def blocks() -> Iterator[Block]:
    for source in SOURCES:
        text = source.read_text()
        for match in FENCE.finditer(text):
            yield Block(
                source=source,
                line=text.count("\n", 0, match.start("lang")) + 1,
                lang=match["lang"],
                directive=match["directive"] or "",
                body=match["body"],
            )


BLOCKS = list(blocks())
PYTHON = [b for b in BLOCKS if b.lang == "python"]


def expected_output(block: Block) -> str | None:
    """The ``text`` block marked ``<!-- doc: output -->`` right after ``block``."""
    later = [b for b in BLOCKS if b.source == block.source and b.line > block.line]
    if later and later[0].directive == "output":
        assert later[0].lang == "text", f"{later[0].name}: an output block is ``text``"
        return later[0].body
    return None


def test_blocks_are_found_and_every_language_is_checked_or_a_shell() -> None:
    assert len(PYTHON) >= 30  # the parser still finds the blocks
    for block in BLOCKS:
        assert block.lang in LANGUAGES, f"{block.name}: ```{block.lang}: neither checked nor shell"
        assert block.directive in {"", "run", "pytest", "output"}, block.name


# -- the names snippets assume -------------------------------------------------------

PRELUDE = '''
"""What the documentation's snippets take as given."""

import asyncio as asyncio
import json as json
import logging as logging
import random as random
from typing import Any as Any

import tenacity as tenacity

import wsclient as wsclient
from wsclient import (
    Connection as Connection,
    Fail as Fail,
    HoldOff as HoldOff,
    Reconnect as Reconnect,
    ReconnectPolicy as ReconnectPolicy,
    Stop as Stop,
    Uniform as Uniform,
)

url = "wss://feed.example/ws"
gateway_url = "wss://gateway.example/ws"
url_a = "wss://a.feed.example/ws"
url_b = "wss://b.feed.example/ws"
log = logging.getLogger("app")
policy = ReconnectPolicy.default()
session = wsclient.Session()


async def subscribe(conn: Connection) -> None: ...


def handle(data: Any) -> None: ...
def apply(data: Any) -> None: ...
def resync(stream: Any) -> None: ...
def is_night() -> bool:
    return False


def key(data: dict[str, Any]) -> tuple[str, int] | None:
    return None
async def process(msg: Any) -> None: ...


class Book:
    def clear(self) -> None: ...
    def load(self, snapshot: Any) -> None: ...
    def apply(self, delta: Any) -> None: ...


book = Book()


class Tokens:
    async def get(self) -> str:
        return "t0ken"


tokens = Tokens()


class Bot:
    async def on_connect(self, conn: Connection) -> None: ...
    def key(self, data: Any) -> tuple[str, int] | None:
        return None
    def handle(self, event: Any) -> None: ...


bot = Bot()
'''


def defined(tree: ast.Module) -> set[str]:
    """The names a module defines at its top level."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


PRELUDE_NAMES = defined(ast.parse(PRELUDE))


def as_module(block: Block) -> str:
    """The block as a module mypy can check: its prelude imports, and its
    top-level awaits inside a coroutine."""
    body = block.body
    try:
        compile(body, block.name, "exec")
    except SyntaxError as exc:
        if "async" not in str(exc.msg) and "await" not in str(exc.msg):
            raise AssertionError(f"{block.name}: {exc}") from None
        body = "async def _block() -> None:\n" + textwrap.indent(body, "    ")
    tree = ast.parse(body)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    needed = sorted((used & PRELUDE_NAMES) - defined(tree))
    head = f"from _prelude import {', '.join(needed)}\n\n" if needed else ""
    return head + body


def test_every_python_block_type_checks(tmp_path: Path) -> None:
    (tmp_path / "_prelude.py").write_text(PRELUDE)
    files = []
    for block in PYTHON:
        if includes(block):
            continue
        path = tmp_path / f"{block.module}.py"
        path.write_text(as_module(block))
        files.append(str(path))
    mypy = ["mypy", "--strict", "--warn-unreachable", "--no-incremental", "--no-error-summary"]
    result = subprocess.run(
        [sys.executable, "-m", *mypy, "--python-version", "3.11", *files],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},  # wsclient is installed in editable mode
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- blocks that include a tested file -----------------------------------------------------


def includes(block: Block) -> list[str]:
    """The files a block includes (pymdownx.snippets' block form), if any."""
    found = INCLUDE.match(block.body)
    assert found or "--8<--" not in block.body, f"{block.name}: includes and code mixed"
    return found["paths"].split() if found else []


def test_included_files_are_the_runnable_examples() -> None:
    included = [path for block in PYTHON for path in includes(block)]
    assert included, "no page includes an example"
    for path in included:
        assert path.startswith("examples/"), path  # run by test_examples.py
        assert (ROOT / path).is_file(), path


def test_toml_blocks_are_the_feeds_files_the_tests_parse() -> None:
    # A feeds file shown in the docs is included from examples/, which
    # test_feeds_file.py parses with wsclient.feeds: no TOML is written inline.
    tomls = [b for b in BLOCKS if b.lang == "toml"]
    assert tomls
    for block in tomls:
        assert includes(block) == ["examples/feeds.toml"], block.name


# -- blocks that run -----------------------------------------------------------------------


RUN = [b for b in PYTHON if b.directive == "run"]
PYTEST = [b for b in PYTHON if b.directive == "pytest"]


async def run_script(path: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(path),
        cwd=path.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:  # timed out: never leave it running
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.timeout(120)
async def test_every_runnable_block_runs(tmp_path: Path) -> None:
    assert len(RUN) >= 8
    paths = []
    for block in RUN:
        path = tmp_path / f"{block.module}.py"
        path.write_text(block.body)
        paths.append(path)
    results = await asyncio.gather(*(run_script(p) for p in paths))
    for block, (code, out, err) in zip(RUN, results, strict=True):
        assert code == 0, f"{block.name} exited {code}:\n{err}"
        assert not err, f"{block.name} wrote to stderr:\n{err}"
        want = expected_output(block)
        if want is not None:
            assert out == want, f"{block.name} printed:\n{out}"


def project_files(block: Block) -> dict[str, str]:
    """``# conftest.py`` / ``# test_x.py`` sections as files."""
    parts = re.split(r"^# (\w+\.py)\n", block.body, flags=re.MULTILINE)
    assert parts[0].strip() == "", f"{block.name}: starts with a '# file.py' line"
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("block", PYTEST, ids=lambda b: b.name)
def test_every_pytest_block_passes_in_a_fresh_project(
    block: Block, pytester: pytest.Pytester
) -> None:
    if block.source.name == "README.md":
        pytest.skip("README's pytest example runs in tests/test_plugin.py")
    files = project_files(block)
    for name, text in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): text})
    tests = sum(len(re.findall(r"^async def test_|^def test_", t, re.M)) for t in files.values())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=150)
    result.assert_outcomes(passed=tests)


# -- what the pages say ----------------------------------------------------------------------


def test_the_decision_tables_are_generated_from_the_default_policy() -> None:
    page = docs_tables.PAGE.read_text()
    assert page == docs_tables.current(page), "run: .venv/bin/python -m tests.docs_tables"


def help_text(obj: object) -> str:
    """What ``help(obj)`` shows, without its bold."""
    return re.sub(".\b", "", pydoc.render_doc(obj))


def keyword_args(doc: str) -> dict[str, str]:
    """The ``Keyword Args:`` entries of a Google-style docstring."""
    section = doc.split("Keyword Args:\n", 1)[1].split("\n\n", 1)[0]
    entries = re.split(r"^(?=\w+ \()", textwrap.dedent(section), flags=re.MULTILINE)
    return {e.split(" ", 1)[0]: " ".join(e.split()) for e in entries if e.strip()}


def test_help_of_connect_lists_every_option_with_its_default() -> None:
    text = help_text(wsclient.connect)
    documented = keyword_args(wsclient.connect.__doc__ or "")
    options = set(ConnectOptions.__annotations__)
    assert set(documented) == options, "document each option in wsclient.connect's docstring"
    assert options == {f.name for f in dataclasses.fields(Options)}
    factories = {
        "policy": "ReconnectPolicy.default()",
        "clock": "SystemClock()",
        "rng": "random.Random()",
    }
    for field in dataclasses.fields(Options):
        entry = documented[field.name]
        assert f"    {field.name} (" in text, field.name
        said = re.search(r"Default: ``(.+?)``", entry)
        assert said is not None, f"{field.name}: no 'Default: ``...``'"
        if field.name in factories:
            assert said[1] == factories[field.name], field.name
        else:
            assert ast.literal_eval(said[1]) == field.default, field.name


def test_help_of_session_points_to_the_options() -> None:
    for obj in (wsclient.Session, wsclient.Session.connect):
        assert "help(wsclient.connect)" in help_text(obj)


def test_readme_keeps_the_set_up_commands_first() -> None:
    first = next(b for b in BLOCKS if b.source.name == "README.md")
    assert first.body.startswith("python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'")
    assert ".venv/bin/python -m pytest" in first.body


def test_the_error_tree_on_the_errors_page_is_the_one_in_errors_py() -> None:
    doc = wsclient.errors.__doc__ or ""
    tree = textwrap.dedent(doc[doc.index("    WSClientError\n") : doc.index("\n\naiohttp")]) + "\n"
    page = next(b for b in BLOCKS if b.source.name == "errors.md" and b.lang == "text")
    assert page.body == tree
    errors = {
        name
        for name in wsclient.__all__
        if isinstance(cls := getattr(wsclient, name), type) and issubclass(cls, Exception)
    }
    assert set(re.findall(r"\w+", tree)) >= errors


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1]
    listed = set(re.findall(r": (\S+\.md)$", nav, re.MULTILINE))
    assert listed == {str(p.relative_to(ROOT / "docs")) for p in PAGES}
