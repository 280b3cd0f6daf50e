"""Mutation testing of wsclient's pure core: do the fast tests notice a wrong line?

Each mutant is one small change to one module (flip a comparison, swap
``and``/``or``, change a constant, drop a statement, drop one element of a
table, swap an arithmetic operator, ``min``/``max``, ``any``/``all``, drop a
``not`` or a minus). The module's fast tests run against it with ``-x``; a
mutant they let pass "survived". The score of a module is killed / (mutants
- equivalent ones), where ``equivalent.txt`` lists, with a reason, the
mutants no test can kill because they change nothing a caller can see.

Why a runner of its own: the mutants run in forked children of one process
that has imported pytest, aiohttp and the test plugins once, so a mutant
costs the module's tests and not an interpreter start (mutmut 3 and
cosmic-ray start one per mutant, or copy the tree). A child drops every
``wsclient`` and ``tests`` module and imports them afresh, the mutated one
compiled from the changed syntax tree, so everything sees the mutant.

Usage (from the repository root)::

    python mutation/run.py                 # every mutant of every module
    python mutation/run.py --quick         # the deterministic sample (CI)
    python mutation/run.py plan budget     # some modules
    python mutation/run.py --list policy   # the mutants, without running them

Exit status 1 when a module (or, with ``--quick``, the sample) scores below
the threshold in ``config.toml``, or when an entry of ``equivalent.txt``
names no mutant any more.
"""

from __future__ import annotations

import argparse
import ast
import copy
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import os
import random
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import cast

import hypothesis
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PACKAGE = "wsclient"

_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}
_CALLS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_SKIPPED_NAMES = {"__all__", "__slots__"}


@dataclass
class Site:
    """One place a mutant can be made: how to make it, and how it reads."""

    scope: str  # "ReconnectPolicy._retry_after", or the name a module-level value is bound to
    line: int
    before: str
    after: str
    apply: Callable[[], None]


@dataclass(frozen=True)
class Mutant:
    """One mutant of a module; ``key`` names it in reports and in equivalent.txt."""

    module: str
    index: int  # its place among the module's sites
    key: str
    line: int


def _short(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_type_alias(value: ast.expr) -> bool:
    """``X = A | B`` or ``X = tuple[A, int]``: a type, whose mutants no test sees."""
    nodes = list(ast.walk(value))
    typing_only = all(
        isinstance(
            n,
            ast.Name
            | ast.Attribute
            | ast.Subscript
            | ast.Tuple
            | ast.List
            | ast.BinOp
            | ast.BitOr
            | ast.Load
            | ast.Constant,
        )
        for n in nodes
    )
    return typing_only and any(isinstance(n, ast.Subscript | ast.BitOr) for n in nodes)


def _bound_name(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target: ast.expr = stmt.targets[0]
    elif isinstance(stmt, ast.AnnAssign):
        target = stmt.target
    else:
        return None
    return target.id if isinstance(target, ast.Name) else None


def _children(node: ast.AST) -> Iterator[tuple[ast.AST, str, int | None]]:
    """Each child expression of ``node`` with the field (and index) it sits in."""
    for name, value in ast.iter_fields(node):
        if isinstance(value, ast.AST):
            yield value, name, None
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield item, name, i


def _setter(parent: ast.AST, name: str, index: int | None) -> Callable[[ast.AST], None]:
    def put(new: ast.AST) -> None:
        if index is None:
            setattr(parent, name, new)
        else:
            getattr(parent, name)[index] = new

    return put


class _Finder:
    """Every mutation site of a module, in a fixed order (a deep copy of the
    same tree gives the same sites, which is how a mutant is applied)."""

    def __init__(self, only: Sequence[str] | None) -> None:
        self.only = only
        self.sites: list[Site] = []
        self._scope: list[str] = []

    def module(self, tree: ast.Module) -> list[Site]:
        for stmt in tree.body:
            name = getattr(stmt, "name", None) or _bound_name(stmt)
            if name is None or name in _SKIPPED_NAMES:
                continue
            if self.only is not None and name not in self.only:
                continue
            self._scope = [name]
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self._function(stmt)
            elif isinstance(stmt, ast.ClassDef):
                self._class(stmt)
            elif (
                isinstance(stmt, ast.Assign | ast.AnnAssign)
                and stmt.value is not None
                and not _is_type_alias(stmt.value)
            ):
                self._expression(stmt, "value", None, stmt.value)
        return self.sites

    def _class(self, node: ast.ClassDef) -> None:
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self._scope.append(stmt.name)
                self._function(stmt)
                self._scope.pop()
            elif (
                isinstance(stmt, ast.Assign | ast.AnnAssign)
                and stmt.value is not None
                and _bound_name(stmt) not in _SKIPPED_NAMES
            ):
                self._expression(stmt, "value", None, stmt.value)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Defaults are behaviour; annotations and decorators are not looked at.
        for i, default in enumerate(node.args.defaults):
            self._expression(node.args, "defaults", i, default)
        for i, kw_default in enumerate(node.args.kw_defaults):
            if kw_default is not None:
                self._expression(node.args, "kw_defaults", i, kw_default)
        self._body(node.body)

    def _body(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and _is_docstring(stmt):
                continue
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self._scope.append(stmt.name)
                self._function(stmt)
                self._scope.pop()
                continue
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # a Protocol's ``...``
            if not isinstance(stmt, ast.Pass | ast.Global | ast.Nonlocal):
                self._drop(body, i)
            self._statement(stmt)

    def _drop(self, body: list[ast.stmt], i: int) -> None:
        stmt = body[i]

        def apply() -> None:
            body[i] = ast.Pass()

        first = ast.unparse(stmt).splitlines()[0]
        self._add(stmt, first if len(first) <= 60 else first[:57] + "...", "pass", apply)

    def _statement(self, stmt: ast.stmt) -> None:
        for child, name, index in _children(stmt):
            if isinstance(child, ast.stmt):
                continue  # bodies: handled below, in order
            if isinstance(stmt, ast.AnnAssign) and name == "annotation":
                continue
            if isinstance(child, ast.expr):
                self._expression(stmt, name, index, child)
            elif isinstance(child, ast.excepthandler | ast.withitem | ast.match_case):
                for sub, sub_name, sub_index in _children(child):
                    if isinstance(sub, ast.expr):
                        self._expression(child, sub_name, sub_index, sub)
            elif isinstance(child, ast.operator) and isinstance(stmt, ast.AugAssign):
                self._operator(stmt, stmt.op)
        for name in ("body", "orelse", "finalbody"):
            if isinstance(getattr(stmt, name, None), list):
                self._body(getattr(stmt, name))
        for handler in getattr(stmt, "handlers", []):
            self._body(handler.body)

    def _expression(self, parent: ast.AST, name: str, index: int | None, node: ast.AST) -> None:
        put = _setter(parent, name, index)
        if isinstance(node, ast.JoinedStr):
            return  # wording, not behaviour
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _COMPARE:
                    self._swap_compare(node, i)
        elif isinstance(node, ast.BoolOp):
            other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self._set(node, node, "op", other)
        elif isinstance(node, ast.BinOp):
            if not any(
                isinstance(side, ast.JoinedStr)
                or (isinstance(side, ast.Constant) and isinstance(side.value, str | bytes))
                for side in (node.left, node.right)
            ):
                self._operator(node, node.op)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            operand = node.operand
            self._add(node, _short(node), _short(operand), lambda: put(operand))
        elif isinstance(node, ast.Constant):
            self._constant(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            swapped = _CALLS.get(node.func.id)
            if swapped is not None:
                self._set(node, node.func, "id", swapped)
        elif isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
            self._table(parent, node)
        for child, child_name, child_index in _children(node):
            if isinstance(child, ast.expr):
                self._expression(node, child_name, child_index, child)

    def _swap_compare(self, node: ast.Compare, i: int) -> None:
        ops = node.ops

        def apply() -> None:
            ops[i] = _COMPARE[type(ops[i])]()

        after = copy.deepcopy(node)
        after.ops[i] = _COMPARE[type(ops[i])]()
        self._add(node, _short(node), _short(after), apply)

    def _operator(self, node: ast.BinOp | ast.AugAssign, op: ast.operator) -> None:
        new = _ARITHMETIC.get(type(op))
        if new is not None:
            self._set(node, node, "op", new())

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self._set(node, node, "value", not value)
        elif isinstance(value, int | float):
            self._set(node, node, "value", value + 1)

    def _table(self, parent: ast.AST, node: ast.Tuple | ast.List | ast.Set | ast.Dict) -> None:
        if isinstance(parent, ast.Return | ast.Subscript):
            return  # an arity change, or a type
        if isinstance(node, ast.Tuple | ast.List) and not isinstance(node.ctx, ast.Load):
            return
        items: list[ast.expr | None] = (
            node.keys if isinstance(node, ast.Dict) else cast(list[ast.expr | None], node.elts)
        )
        if len(items) < 2:
            return
        for i, item in enumerate(items):
            shown = _short(item if item is not None else node.values[i])  # type: ignore[union-attr]

            def apply(i: int = i) -> None:
                del items[i]
                if isinstance(node, ast.Dict):
                    del node.values[i]

            self._add(node, f"{shown} in {_short(node)}", "(dropped)", apply)

    def _set(self, shown: ast.AST, node: ast.AST, attribute: str, value: object) -> None:
        def apply() -> None:
            setattr(node, attribute, value)

        old = getattr(node, attribute)
        setattr(node, attribute, value)
        after = _short(shown)
        setattr(node, attribute, old)
        self._add(shown, _short(shown), after, apply)

    def _add(self, node: ast.AST, before: str, after: str, apply: Callable[[], None]) -> None:
        scope = ".".join(self._scope)
        self.sites.append(Site(scope, getattr(node, "lineno", 0), before, after, apply))


@dataclass
class Module:
    """One module under test, as ``config.toml`` describes it."""

    name: str
    tests: list[str]
    only: list[str] | None = None
    path: Path = field(init=False)
    tree: ast.Module = field(init=False)
    mutants: list[Mutant] = field(init=False)

    def __post_init__(self) -> None:
        self.path = ROOT / PACKAGE / f"{self.name}.py"
        self.tree = ast.parse(self.path.read_text(), str(self.path))
        self.mutants = []
        seen: dict[str, int] = {}
        for index, site in enumerate(_Finder(self.only).module(self.tree)):
            key = f"{self.name}:{site.scope}: {site.before} => {site.after}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key += f" #{seen[key]}"
            self.mutants.append(Mutant(self.name, index, key, site.line))

    def compile(self, mutant: Mutant | None) -> CodeType:
        """The module's code with ``mutant`` made (none: as it is)."""
        tree = copy.deepcopy(self.tree)
        if mutant is not None:
            _Finder(self.only).module(tree)[mutant.index].apply()
            ast.fix_missing_locations(tree)
        return compile(tree, str(self.path), "exec")


class _Loader(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports one module of the package from the mutated code."""

    def __init__(self, fullname: str, path: Path, code: CodeType) -> None:
        self.fullname = fullname
        self.path = path
        self.code = code

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.fullname:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)


def _forget_project() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in (PACKAGE, "tests"):
            del sys.modules[name]


def _pytest_args(tests: list[str], timeout: float) -> list[str]:
    return [
        *tests,
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-cov",
        # pytest rewrites the asserts of every module of a distribution that
        # ships a plugin (wsclient.testing): its import hook would load the
        # module from the file, not the mutant.
        "--assert=plain",
        # It collects garbage thrice at the end of every session: a third of
        # a small module's run, for warnings nobody reads here.
        "-p",
        "no:unraisableexception",
        "-o",
        f"timeout={timeout:g}",
    ]


def _warm_up(tests: list[str]) -> None:
    """Import pytest, its plugins and everything the tests import, once, in
    this process: the children inherit them."""
    with open(os.devnull, "w") as null:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = null
        try:
            pytest.main([*_pytest_args(tests, 30), "--collect-only"])
        finally:
            sys.stdout, sys.stderr = saved
    _forget_project()
    gc.collect()
    gc.freeze()  # what the children inherit is never scanned by their collections


def _child(module: Module, code: CodeType | None, timeout: float) -> None:
    """Run the module's tests against ``code`` (``None``: the module as it is)."""
    null = os.open(os.devnull, os.O_WRONLY)
    if not os.environ.get("MUTATION_VERBOSE"):
        os.dup2(null, 1)
        os.dup2(null, 2)
    # Property tests: fewer examples, the same ones on every run, nothing
    # remembered between runs (a mutant's failing example must not leak).
    hypothesis.settings.register_profile(
        "mutation", max_examples=25, derandomize=True, database=None, deadline=None
    )
    hypothesis.settings.load_profile("mutation")
    try:
        if code is not None:
            sys.meta_path.insert(0, _Loader(f"{PACKAGE}.{module.name}", module.path, code))
        status = int(pytest.main(_pytest_args(module.tests, timeout)))
    except BaseException:
        status = 3
    os._exit(status)


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # "killed", "timeout", "survived", "equivalent"
    seconds: float


def _run(
    jobs: list[tuple[Module, Mutant | None]], workers: int, limit: float
) -> list[tuple[int, float]]:
    """Each job's exit status (-1 after ``limit`` seconds) and its duration."""
    results: list[tuple[int, float]] = [(0, 0.0)] * len(jobs)
    running: dict[int, tuple[int, float]] = {}  # pid -> (job index, started)
    todo = list(range(len(jobs)))
    while todo or running:
        while todo and len(running) < workers:
            index = todo.pop(0)
            module, mutant = jobs[index]
            compiled = module.compile(mutant) if mutant is not None else None
            pid = os.fork()
            if pid == 0:
                _child(module, compiled, limit)
            running[pid] = (index, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for child, (_, started) in list(running.items()):
                if now - started > limit + 5:  # pytest-timeout missed it: a hang in C
                    os.kill(child, signal.SIGKILL)
            time.sleep(0.005)
            continue
        index, started = running.pop(pid)
        exit_code = os.waitstatus_to_exitcode(status)
        results[index] = (exit_code if exit_code >= 0 else -1, time.monotonic() - started)
        done = len(jobs) - len(todo) - len(running)
        if sys.stderr.isatty() and (done % 50 == 0 or done == len(jobs)):
            print(f"  {done}/{len(jobs)}", file=sys.stderr, flush=True)
    return results


def _equivalents() -> dict[str, str]:
    """The keys of equivalent.txt, each with its reason."""
    listed: dict[str, str] = {}
    for line in (HERE / "equivalent.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, reason = line.partition("  -- ")
        listed[key.strip()] = reason.strip()
    return listed


def _quick_sample(modules: list[Module], size: int, seed: int, skip: set[str]) -> list[Mutant]:
    candidates = [m for module in modules for m in module.mutants if m.key not in skip]
    rng = random.Random(seed)
    return sorted(rng.sample(candidates, min(size, len(candidates))), key=lambda m: m.key)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module names (default: all)")
    parser.add_argument("--quick", action="store_true", help="the sample CI runs")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--survivors", action="store_true", help="print each survivor")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per test")
    args = parser.parse_args(argv)

    config = tomllib.loads((HERE / "config.toml").read_text())
    names = args.modules or sorted(config["modules"])
    unknown = sorted(set(names) - set(config["modules"]))
    if unknown:
        parser.error(f"no such module in config.toml: {', '.join(unknown)}")
    modules = [Module(name, **config["modules"][name]) for name in names]
    equivalent = _equivalents()
    every_key = {m.key for module in modules for m in module.mutants}
    stale = [key for key in equivalent if key.split(":")[0] in names and key not in every_key]

    if args.list:
        for module in modules:
            for m in module.mutants:
                mark = "  (equivalent)" if m.key in equivalent else ""
                print(f"{module.path.relative_to(ROOT)}:{m.line}: {m.key}{mark}")
        return 0

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    started = time.monotonic()
    tests = sorted({t for module in modules for t in module.tests})
    _warm_up(tests)
    baseline = _run([(module, None) for module in modules], args.jobs, args.timeout)
    broken = [m.name for m, (code, _) in zip(modules, baseline, strict=True) if code != 0]
    if broken:
        print(f"the tests fail without a mutant: {', '.join(broken)}", file=sys.stderr)
        return 2

    if args.quick:
        chosen = _quick_sample(
            modules, config["quick"]["mutants"], config["quick"]["seed"], set(equivalent)
        )
    else:
        chosen = [m for module in modules for m in module.mutants if m.key not in equivalent]
    by_name = {module.name: module for module in modules}
    results = _run([(by_name[m.module], m) for m in chosen], args.jobs, args.timeout)
    outcomes = [
        Outcome(m, "survived" if code == 0 else "timeout" if code == -1 else "killed", secs)
        for m, (code, secs) in zip(chosen, results, strict=True)
    ]
    return _report(
        modules=modules,
        outcomes=outcomes,
        equivalent=equivalent,
        stale=stale,
        threshold=config["threshold"],
        args=args,
        started=started,
    )


def _report(
    *,
    modules: list[Module],
    outcomes: list[Outcome],
    equivalent: dict[str, str],
    stale: list[str],
    threshold: float,
    args: argparse.Namespace,
    started: float,
) -> int:
    failed = False
    print(
        f"{'module':<14}{'mutants':>8}{'equiv.':>8}{'killed':>8}{'timeout':>8}"
        f"{'survived':>9}{'score':>8}"
    )
    rows = [
        (m.name, sum(x.key in equivalent for x in m.mutants) if not args.quick else 0)
        for m in modules
    ]
    if args.quick:
        rows.append(("(sample)", 0))
    for name, listed in rows:
        mine = [o for o in outcomes if name in ("(sample)", o.mutant.module)]
        killed = sum(o.status == "killed" for o in mine)
        hung = sum(o.status == "timeout" for o in mine)
        score = 100.0 * (killed + hung) / len(mine) if mine else 100.0
        if (name == "(sample)" or not args.quick) and score < threshold:
            failed = True
        print(
            f"{name:<14}{len(mine) + listed:>8}{listed:>8}{killed:>8}{hung:>8}"
            f"{len(mine) - killed - hung:>9}{score:>7.1f}%"
        )
    survivors = [o for o in outcomes if o.status == "survived"]
    if survivors and (args.survivors or failed):
        print("\nsurvivors:")
        for o in survivors:
            print(f"  {PACKAGE}/{o.mutant.module}.py:{o.mutant.line}: {o.mutant.key}")
    hangs = [o for o in outcomes if o.status == "timeout"]
    if hangs:
        print("\nkilled only by the timeout (a hang, not an error):")
        for o in hangs:
            print(f"  {PACKAGE}/{o.mutant.module}.py:{o.mutant.line}: {o.mutant.key}")
    if stale:
        failed = True
        print("\nequivalent.txt names mutants that no longer exist:")
        for key in stale:
            print(f"  {key}")
    print(
        f"\n{len(outcomes)} mutants in {time.monotonic() - started:.0f} s "
        f"(threshold {threshold:g} %)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
