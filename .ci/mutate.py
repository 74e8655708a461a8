"""Mutation check: flip comparison operators and constants in a module's functions, run the tests, count the kills.

    .venv/bin/python .ci/mutate.py                       # both modules below, each with its tests
    .venv/bin/python .ci/mutate.py numpy_nets --lock /tmp/cpu.lock --json runs/mutation.json
    .venv/bin/python .ci/mutate.py preprocess --sample 150 --seed 0   # a quicker estimate

A tool run by hand (not part of `make test`). The module on disk is never touched: each mutant is compiled from
the parsed source in memory, and a forked child swaps the mutated code object into the one function that holds
the site (`f.__code__ = ...`, so names imported elsewhere see it too) before it runs pytest. Operators:
`<`<->`<=`, `>`<->`>=`, `==`<->`!=`, `is`<->`is not`, `in`<->`not in`; an int n becomes n+1, a float x
becomes x+1 (mutmut's rule), True<->False. Only sites inside function bodies are mutated (not module constants,
dataclass defaults or argument defaults). One traced run first records which tests execute each line; a mutant
runs only those tests (fastest first, stop at the first failure) under a time limit, and a line no test executes
survives without a run. A test failure, an error or the time limit kills a mutant.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import functools
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {  # module -> the tests that exercise it
    "numpy_nets": ("core/numpy_nets.py", ["tests/test_numpy_nets.py", "tests/test_numpy_train.py"]),
    "preprocess": ("core/preprocess.py", ["tests/test_preprocess.py", "tests/test_preprocess_mutants.py"]),
}
FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
        ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
          ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
PYTEST_ARGS = ["-q", "-x", "-p", "no:cacheprovider", "-o", "addopts=", "--no-header", "-W", "ignore"]


@dataclass
class Site:
    """One mutant: where, what, and the top-level function (or method) whose code object carries it."""

    line: int
    col: int
    what: str
    owner: str  # qualname of the outermost def holding the site
    index: int  # position among the module's mutable nodes (walk order)


def _owners(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """(qualname, node) of every top-level function and every method of a top-level class."""
    out: list[tuple[str, ast.AST]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            out += [(f"{node.name}.{n.name}", n) for n in node.body if isinstance(n, ast.FunctionDef)]
    return out


def _body_nodes(fn: ast.FunctionDef):
    """Every node inside the function's body (a docstring's constant excluded), nested defs included."""
    body = fn.body[1:] if (fn.body and isinstance(fn.body[0], ast.Expr)
                           and isinstance(fn.body[0].value, ast.Constant)
                           and isinstance(fn.body[0].value.value, str)) else fn.body
    for stmt in body:
        yield from ast.walk(stmt)


def mutations(tree: ast.Module) -> list[tuple[Site, ast.AST, object, object]]:
    """Every site as (site, node, original, mutated): for a Compare the op index inside, for a Constant its value."""
    sites = []
    for owner, fn in _owners(tree):
        for node in _body_nodes(fn):
            if isinstance(node, ast.Compare):
                for k, op in enumerate(node.ops):
                    if type(op) in FLIP:
                        what = f"{SYMBOL[type(op)]} -> {SYMBOL[FLIP[type(op)]]}"
                        sites.append((Site(node.lineno, node.col_offset, what, owner, 0), node, k, FLIP[type(op)]))
            elif isinstance(node, ast.Constant) and type(node.value) in (bool, int, float):
                v = node.value
                new = (not v) if isinstance(v, bool) else v + 1
                sites.append((Site(node.lineno, node.col_offset, f"{v!r} -> {new!r}", owner, 0), node, "value", new))
    for i, s in enumerate(sites):
        s[0].index = i
    return sites


def mutated_code(source: str, path: str, index: int) -> dict[str, object]:
    """Compile the module with mutation `index` applied; return {qualname: code} of its top-level defs."""
    tree = ast.parse(source, path)
    _, node, where, new = mutations(tree)[index]
    if where == "value":
        node.value = new
    else:
        node.ops[where] = new()
    codes: dict[str, object] = {}

    def walk(code):
        for c in code.co_consts:
            if hasattr(c, "co_qualname"):
                codes.setdefault(c.co_qualname, c)
                walk(c)

    walk(compile(tree, path, "exec"))
    return codes


def originals(module) -> dict[str, object]:
    """{qualname: function} for the module's own functions and methods, unwrapping caches and descriptors."""
    out: dict[str, object] = {}

    def add(obj):
        for attr in ("__func__", "fget", "__wrapped__"):
            inner = getattr(obj, attr, None)
            if inner is not None and inner is not obj:
                add(inner)
        code = getattr(obj, "__code__", None)
        if code is not None and code.co_filename == module.__file__:
            out.setdefault(code.co_qualname, obj)

    for value in vars(module).values():
        add(value)
        if isinstance(value, type) and value.__module__ == module.__name__:
            for member in vars(value).values():
                add(member)
    return out


def clear_caches(module) -> None:
    for value in vars(module).values():
        if isinstance(value, functools._lru_cache_wrapper):
            value.cache_clear()


class LineTracer:
    """Pytest plugin: which lines of one file each test (setup, call and teardown) executes."""

    def __init__(self, filename: str):
        self.filename, self.lines, self.seconds, self.current = filename, {}, {}, None

    def _global(self, frame, event, arg):
        return self._local if frame.f_code.co_filename == self.filename else None

    def _local(self, frame, event, arg):
        if event == "line" and self.current is not None:
            self.lines[self.current].add(frame.f_lineno)
        return self._local

    def pytest_runtest_protocol(self, item, nextitem):  # noqa: ARG002 (pytest hook signature)
        self.current = item.nodeid
        self.lines[item.nodeid] = set()

    def pytest_runtest_logreport(self, report):
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration

    def start(self):
        import threading

        sys.settrace(self._global)
        threading.settrace(self._global)


def _in_child(fn, timeout: float) -> tuple[str, object]:
    """Run fn() -> (exit code, payload) in a forked child; ('ok'|'failed'|'timeout', payload)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json") as box:
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                code, payload = fn()
                Path(box.name).write_text(json.dumps(payload))
            except BaseException as e:  # noqa: BLE001 (any exception kills the mutant)
                Path(box.name).write_text(json.dumps(repr(e)))
            finally:
                os._exit(code)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout", None
            time.sleep(0.05)
        text = Path(box.name).read_text()
    payload = json.loads(text) if text else None
    return ("ok" if os.waitstatus_to_exitcode(status) == 0 else "failed"), payload


@contextlib.contextmanager
def held(lock: str | None):
    """The shared CPU lock for the duration of one run (other jobs interleave between mutants)."""
    if not lock:
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_module(name: str, lock: str | None, sample: int | None, seed: int, log=print) -> dict:
    import importlib

    import pytest

    path, tests = TARGETS[name]
    tests = [t for t in tests if (ROOT / t).exists()]
    filename = str(ROOT / path)
    module = importlib.import_module(f"core.{name}")
    source = Path(filename).read_text()
    sites = [s for s, *_ in mutations(ast.parse(source, filename))]
    total = len(sites)
    if sample and sample < len(sites):  # a fixed-seed random subset, in source order
        import random

        sites = sorted(random.Random(seed).sample(sites, sample), key=lambda s: s.index)

    def traced():
        tracer = LineTracer(filename)
        tracer.start()
        code = pytest.main([*tests, *PYTEST_ARGS[2:]], plugins=[tracer])  # every test, no -x
        sys.settrace(None)
        return int(code), {"lines": {k: sorted(v) for k, v in tracer.lines.items()}, "seconds": tracer.seconds}

    with held(lock):
        t0 = time.monotonic()
        status, cov = _in_child(traced, timeout=1800)
        log(f"{name}: traced run of {' '.join(tests)}: {status} in {time.monotonic() - t0:.0f} s")
    if status != "ok":
        raise SystemExit(f"the tests fail on the unmutated {path}: fix them first ({cov})")
    by_line: dict[int, list[str]] = {}
    for test, lines in cov["lines"].items():
        for ln in lines:
            by_line.setdefault(ln, []).append(test)
    results = []
    for s in sites:
        chosen = sorted(by_line.get(s.line, []), key=lambda t: cov["seconds"].get(t, 1.0))
        if not chosen:
            results.append({**asdict(s), "outcome": "survived", "why": "no test executes this line"})
            continue
        budget = 30 + 3 * sum(cov["seconds"].get(t, 1.0) for t in chosen)

        def one(s=s, chosen=chosen):
            quiet = os.open(os.devnull, os.O_WRONLY)  # the outcome is the exit status; pytest's report is noise
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
            codes = mutated_code(source, filename, s.index)
            target = originals(module)[s.owner]
            target.__code__ = codes[s.owner]
            clear_caches(module)
            return int(pytest.main([*chosen, *PYTEST_ARGS])), None

        with held(lock):
            t0 = time.monotonic()
            status, _ = _in_child(one, timeout=budget)
            took = time.monotonic() - t0
        outcome = {"ok": "survived", "failed": "killed", "timeout": "killed"}[status]
        results.append({**asdict(s), "outcome": outcome, "why": status, "tests_run": len(chosen),
                        "seconds": round(took, 1)})
        log(f"  {path}:{s.line}:{s.col} {s.what:<14} in {s.owner}: {outcome} ({status}, {took:.1f} s)")
    killed = sum(r["outcome"] == "killed" for r in results)
    return {"module": path, "tests": tests, "mutants": len(results), "of": total, "seed": seed, "killed": killed,
            "score": killed / max(1, len(results)), "results": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", help=f"modules to mutate (default: all of {', '.join(TARGETS)})")
    ap.add_argument("--lock", help="flock this file around each test run (e.g. /tmp/cpu.lock on a shared machine)")
    ap.add_argument("--sample", type=int, help="only N mutants of each module, drawn at random (a quicker look)")
    ap.add_argument("--seed", type=int, default=0, help="seed of --sample's draw")
    ap.add_argument("--json", type=Path, help="also write every mutant's outcome here")
    args = ap.parse_args(argv)
    if unknown := set(args.modules) - set(TARGETS):
        ap.error(f"unknown module(s) {', '.join(sorted(unknown))}; choose from {', '.join(TARGETS)}")
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")  # derandomized: a mutant meets the same examples each run
    reports = [run_module(m, args.lock, args.sample, args.seed) for m in (args.modules or list(TARGETS))]
    print()
    for r in reports:
        drawn = f" (a sample of {r['mutants']} of {r['of']}, seed {r['seed']})" if r["mutants"] < r["of"] else ""
        print(f"{r['module']}: {r['killed']}/{r['mutants']} mutants killed ({100 * r['score']:.1f} %){drawn} "
              f"by {' '.join(r['tests'])}")
        for s in (x for x in r["results"] if x["outcome"] == "survived"):
            print(f"  survived  {r['module']}:{s['line']}:{s['col']}  {s['what']:<14} in {s['owner']}  ({s['why']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
