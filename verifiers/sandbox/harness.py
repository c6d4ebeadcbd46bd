"""The test harness that runs INSIDE the sandbox (stdlib only; never imported by the pipeline).

The verifier copies this file as text into the work dir and runs ``python -I harness.py JOB.json``
with a random nonce as the first line of stdin. At the end it writes one line
``<NONCE> {json}`` to the stdout it was started with; a program that exits early (``os._exit``)
or prints its own lines cannot produce it, so a missing or foreign line means "not passed".
(Code in the same process could in principle dig the nonce out of the harness's frames: that is
a forged verdict, not an escape, and the sandbox still contains it.)

Jobs: ``{"mode": "files", "tests": "test_solution.py"}`` runs the tests file as a module (beside
``solution.py``), then every zero-argument ``test_*`` function and the zero-argument ``test_*``
methods of ``Test*`` classes. ``{"mode": "function", "root": "repo", "import_root": ...,
"module": ..., "symbol": ..., "docstring": ..., "path": ..., "tests": [{"kind", "path", "name"}]}``
imports the module from the repository and runs the symbol's doctest and the named test functions.

Exit status: 0 all tests ok, 1 a test failed or errored, 3 a MemoryError stopped a test.
"""

import importlib
import importlib.util
import json
import os
import sys
import types

# doctest, unittest, inspect and traceback are imported only when needed: together they cost
# more than the interpreter's own start-up.

MESSAGE_CHARS = 400


class _Memory(Exception):
    pass


def _short(exc):
    import traceback

    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[-MESSAGE_CHARS:]


def _call(fn):
    """Run one test callable: "ok", "failed: ..." (assertion), "error: ..." (anything else)."""
    try:
        fn()
    except MemoryError:
        raise _Memory() from None
    except AssertionError as exc:
        return "failed: " + (_short(exc) or "AssertionError")
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from test code are failures too
        if type(exc).__name__ == "SkipTest":
            return "error: skipped: " + str(exc)[:MESSAGE_CHARS]
        return "error: " + _short(exc)
    return "ok"


def _zero_args(fn, bound=0):
    """Callable with no arguments (after ``bound`` leading ones such as self)."""
    code = fn.__code__
    required = code.co_argcount - len(fn.__defaults__ or ()) - bound
    kwonly = code.co_kwonlyargcount - len(fn.__kwdefaults__ or {})
    return required <= 0 and kwonly <= 0 and code.co_argcount >= bound


def _is_testcase(cls):
    unittest = sys.modules.get("unittest")  # no TestCase subclass can exist unless the tests imported it
    return unittest is not None and isinstance(cls, type) and issubclass(cls, unittest.TestCase)


def _run_testcase(cls, name):
    import unittest

    result = unittest.TestResult()
    cls(name).run(result)
    for _, text in result.errors:
        if "MemoryError" in text.splitlines()[-1]:
            raise _Memory()
        return "error: " + text.strip().splitlines()[-1][-MESSAGE_CHARS:]
    for _, text in result.failures:
        return "failed: " + text.strip().splitlines()[-1][-MESSAGE_CHARS:]
    if result.skipped:
        return "error: skipped: " + str(result.skipped[0][1])[:MESSAGE_CHARS]
    return "ok"


def _method_test(cls, name):
    if _is_testcase(cls):
        return lambda: _run_testcase(cls, name)

    def call():
        getattr(cls(), name)()
        return "ok"

    return call


def _load_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _run_wrapped(fn):
    """Like _call, but a callable may itself return a verdict string (unittest cases)."""
    box = {}

    def inner():
        box["v"] = fn()

    verdict = _call(inner)
    if verdict == "ok" and isinstance(box.get("v"), str):
        return box["v"]
    return verdict


def run_files(job, tests):
    path = job["tests"]
    sys.path.insert(0, os.getcwd())  # -I implies -P: the script's dir is not on sys.path
    name = os.path.splitext(os.path.basename(path))[0]
    module_verdict = _call(lambda: _load_file(path, name))
    module = sys.modules.get(name)
    if module_verdict != "ok" or module is None:
        tests["<module>"] = module_verdict
        return
    found = []
    for attr, value in list(vars(module).items()):
        if attr.startswith("test") and isinstance(value, types.FunctionType) and _zero_args(value):
            found.append((attr, value))
        elif attr.startswith("Test") and isinstance(value, type):
            for meth in sorted(dir(value)):
                fn = getattr(value, meth, None)
                if meth.startswith("test") and isinstance(fn, types.FunctionType) and _zero_args(fn, bound=1):
                    found.append((f"{attr}.{meth}", _method_test(value, meth)))
    if not found:
        tests["<module>"] = "ok"
    for label, fn in found:
        tests[label] = _run_wrapped(fn)


def _doctest(module, symbol, docstring, path):
    """The verdict of the examples in ``docstring``, run in the module's globals."""
    import doctest
    import io

    parser = doctest.DocTestParser()
    test = parser.get_doctest(docstring or "", dict(vars(module)), symbol, path, 0)
    if not test.examples:
        return "error: no doctest examples"
    out = io.StringIO()
    runner = doctest.DocTestRunner(verbose=False, optionflags=doctest.ELLIPSIS)
    try:
        summary = runner.run(test, out=out.write, clear_globs=True)
    except MemoryError:
        raise _Memory() from None
    if "MemoryError" in out.getvalue():
        raise _Memory()
    if summary.failed:
        text = " ".join(out.getvalue().split())
        return f"failed: {summary.failed}/{summary.attempted} examples: " + text[:MESSAGE_CHARS]
    return "ok"


def _test_module_name(path):
    stem = path[:-3] if path.endswith(".py") else path
    return stem.replace("/", ".").replace("-", "_")


NOT_CALLED = "not_called"


def _count_calls(module, symbol):
    """Wrap the function under test so that each test can say whether it called it at all (a test
    linked by name may not): returns the call counter, or None when the target can't be wrapped
    faithfully (a C function, an lru_cache wrapper...). Tests then import the wrapped one."""
    import functools

    head, _, name = symbol.rpartition(".")
    owner = getattr(module, head, None) if head else module
    raw = vars(owner).get(name) if owner is not None else None
    box = {"n": 0}

    def wrap(fn):
        @functools.wraps(fn)
        def counted(*args, **kwargs):
            box["n"] += 1
            return fn(*args, **kwargs)
        return counted

    if isinstance(raw, staticmethod):
        new = staticmethod(wrap(raw.__func__))
    elif isinstance(raw, classmethod):
        new = classmethod(wrap(raw.__func__))
    elif isinstance(raw, property) and raw.fget is not None:
        new = property(wrap(raw.fget), raw.fset, raw.fdel, raw.__doc__)
    elif isinstance(raw, types.FunctionType):
        new = wrap(raw)
    else:
        return None
    try:
        setattr(owner, name, new)
    except (AttributeError, TypeError):
        return None
    return box


def _judged(run, calls, symbol, what="test"):
    """``run()``'s verdict, or not_called when it passed without ever calling ``symbol``."""
    before = calls["n"] if calls is not None else 0
    verdict = run()
    if verdict == "ok" and calls is not None and calls["n"] == before:
        return f"{NOT_CALLED}: the {what} never called {symbol}"
    return verdict


def run_function(job, tests):
    root = os.path.abspath(job["root"])
    import_root = os.path.join(root, job.get("import_root") or "")
    for entry in (root, os.path.normpath(import_root)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.chdir(root)
    refs = job["tests"]
    try:
        module = importlib.import_module(job["module"])
    except MemoryError:
        raise _Memory() from None
    except BaseException as exc:
        why = "error: import failed: " + _short(exc)
        for ref in refs:
            tests[ref["name"] if ref["kind"] == "function" else f"doctest {job['symbol']}"] = why
        return
    loaded = {}
    calls = _count_calls(module, job["symbol"])
    for ref in refs:
        if ref["kind"] == "doctest":
            label = f"doctest {job['symbol']}"
            tests[label] = _judged(lambda: _doctest(module, job["symbol"], job.get("docstring", ""), job["path"]),
                                   calls, job["symbol"], "examples")
            continue
        label = f"{ref['path']}::{ref['name'].replace('.', '::')}"
        path = ref["path"]
        if path not in loaded:
            name = _test_module_name(path)
            parent = name.rpartition(".")[0]
            if parent:
                try:
                    importlib.import_module(parent)
                except Exception:  # noqa: BLE001 - a tests dir need not be a package
                    pass
            loaded[path] = _call(lambda p=path, n=name: _load_file(os.path.join(root, p), n))
            loaded[path + "#module"] = sys.modules.get(name)
        if loaded[path] != "ok":
            tests[label] = "error: test file failed to import: " + loaded[path]
            continue
        target = loaded[path + "#module"]
        head, _, meth = ref["name"].rpartition(".")
        try:
            obj = getattr(target, head) if head else None
            fn = _method_test(obj, meth) if head else getattr(target, meth)
        except AttributeError as exc:
            tests[label] = "error: " + _short(exc)
            continue
        tests[label] = _judged(lambda f=fn: _run_wrapped(f), calls, job["symbol"])


def main():
    nonce = sys.stdin.readline().strip()
    sys.stdin = open(os.devnull)  # noqa: SIM115
    result_fd = os.dup(1)
    with open(sys.argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    tests = {}
    memory = False
    try:
        if job["mode"] == "files":
            run_files(job, tests)
        else:
            run_function(job, tests)
    except (_Memory, MemoryError):
        memory = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    judged = [v for v in tests.values() if not v.startswith(NOT_CALLED)]  # tests that never ran the target say nothing
    passed = bool(judged) and not memory and all(v == "ok" for v in judged)
    # on a line of its own, even after a test printed without a final newline
    line = "\n" + nonce + " " + json.dumps({"tests": tests, "memory": memory, "passed": passed}) + "\n"
    data = line.encode("utf-8")
    while data:
        data = data[os.write(result_fd, data):]
    os._exit(0 if passed else (3 if memory else 1))


if __name__ == "__main__":
    main()
