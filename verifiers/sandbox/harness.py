"""The test harness that runs INSIDE the sandbox (stdlib only; never imported by the pipeline).

The verifier copies this file into the work dir (compiled: ``harness.pyc``), runs ``python -I harness.pyc JOB.json``
and writes a random nonce as the first line of its stdin. Two processes take part, and only the
first decides anything:

* the **judge** (this program as started) never puts the repository on ``sys.path`` and never
  runs repository or model code. It makes itself non-dumpable (``prctl``: no other process of
  the sandbox's uid can read its memory or open its descriptors through ``/proc``; ``ptrace`` and
  ``process_vm_readv`` are refused by the sandbox's seccomp filter) and a child subreaper, imports
  the runner's modules, and forks the test process *before* it reads the nonce: the test process
  never holds the nonce, no descriptor of it leads to the nonce's pipe, and it runs no code under
  test until the judge has taken the nonce out of that pipe. The judge then requires, from the
  test process's own pipe, one record per requested test and the end marker after them; a test
  process that ends without them (an ``os._exit(0)`` in a test, a crash, a kill) fails the first
  test it did not report, never passes it. The judge kills whatever the test process left
  running, and at the end it alone writes ``<NONCE> {json}`` to the stdout it was started with.
* the **test process** (forked from the judge: the same ``python -I``, so no user site and no
  ``PYTHONPATH``): every descriptor but stdout, stderr and its pipe closed, stdin ``/dev/null``.
  The runner's own modules (``json``, ``importlib``, ``types``, ``functools``, ``io``; ``doctest``
  when a doctest is asked for, ``unittest`` when a tests file names it) were imported by the
  judge, so before the repository is on ``sys.path``: a repository module with one of their names
  cannot replace them (and the verifier refuses such a repository before running anything,
  ``shadows_stdlib``). It imports the module, runs the tests, and writes one JSON record per test
  to its pipe as the test ends (``{"test": LABEL, "verdict": ...}``), then the end marker. A test
  skipped at run time (``unittest.skip*``, ``pytest.skip()``) is ``skipped: ...``: like a linked
  test that never called the function (``not_called: ...``), it counts neither way.

What code under test cannot do: reach the nonce (it is in no memory it can read), write the
judge's result line, or end the run early with a pass. What it still can do, and what no harness
can prevent for code running in that process: **code in the test process can speak the child
protocol for every test of the run** (find the pipe, write ``{"test": LABEL, "verdict": "ok"}``
for each requested test and the end marker, exit). In files mode all tests share the test process.
In function mode each test runs alone in a process of its own, forked from the test process once
the module under test and the tests files are imported (``_alone``: a fork per test, no fresh
import): the judge's pipe is closed there and its record comes back on a pipe of its own, taken
only when it names that test. So a test's body can speak neither for another test nor for
itself beyond its one record, sees nothing another test left behind, and one that ends its
process early fails itself only; module-level code of the module under test (where a model's code
is substituted) and of the tests files still runs in the test process, with the residual above
(the sandbox bench, sandboxed ÷ bare Python, files mode, old and new harness interleaved on one
machine: 0.52 with the harness running the tests in its own process, 0.45 with one test process,
0.33 with one process per test that imports the module afresh).

Jobs: ``{"mode": "files", "tests": "test_solution.py"}`` runs the tests file as a module (beside
``solution.py``), then every zero-argument ``test_*`` function and the zero-argument ``test_*``
methods of ``Test*`` classes and of the ``unittest.TestCase`` subclasses it defines, whatever
their names (the test process first records the list it found). ``{"mode":
"function", "root": "repo", "import_root": ..., "module": ..., "symbol": ..., "docstring": ...,
"path": ..., "tests": [{"kind", "path", "name", "args"}]}`` imports the module from the repository
and runs the symbol's doctest and each named test alone, by its pytest node id (``label_of``), as
pytest would run it: a ``unittest.TestCase`` method in a suite of its own (its class and module
set-ups around it), any other test method or function inside pytest's xunit set-ups
(``setup_module``, ``setup_class``, ``setup_method``, ``setup_function``), a parametrized case
(``test_f[1-2]``) called with its arguments (``args``: a dict literal the pipeline read from the
test file's ``parametrize``). The function under test is counted wherever the repository's
modules re-export it (``from .more import *``), so a test calling ``pkg.f`` counts for ``pkg.more.f``.

Exit status: 0 all tests ok, 1 a test failed or errored, 3 a MemoryError stopped a test; when the
test process ended without reporting, the judge ends as it did (its exit status, or the signal
that killed it).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import io
import json
import os
import sys
import time
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs a few ms at start-up, for every run
    from collections.abc import Callable
    from typing import Any

#: the modules the test process's runner uses (the judge imports them before the fork; doctest and
#: unittest bring inspect and traceback): a repository module or package with one of these names at
#: its root or import root is refused by the verifier (``shadows_stdlib``)
RUNNER_MODULES = ("doctest", "functools", "importlib", "inspect", "io", "json", "os", "sys", "traceback", "types", "unittest")

MESSAGE_CHARS = 400
#: the most a test process may write to its pipe; more stops it
REPORT_BYTES = 1 << 20
#: the most characters of a test label or verdict the judge keeps
LABEL_CHARS, VERDICT_CHARS = 1000, 2000
END = "end"
NOT_CALLED = "not_called"
#: a test skipped at run time (``unittest.skip*``, ``SkipTest``, ``pytest.skip()``): like a test that
#: never called the function, it says nothing either way (pytest does not fail a run for it)
SKIPPED = "skipped"
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
SIGKILL = 9


class _Memory(Exception):
    pass


def _prctl(option: int, value: int) -> bool:
    """``prctl(option, value)``; False where it is unavailable or refused. Through ``_ctypes``'s
    own call where it has one (importing ``ctypes`` costs ~2 ms of every run), else ``ctypes``."""
    try:
        import _ctypes

        if hasattr(_ctypes, "call_function") and hasattr(_ctypes, "dlsym"):
            return _ctypes.call_function(_ctypes.dlsym(_ctypes.dlopen(None), "prctl"), (option, value, 0, 0, 0)) == 0
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except Exception:  # noqa: BLE001 - no ctypes or no libc: the run goes on without it
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _devnull_stdin() -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


# --- the runner: what the test process does --------------------------------------------------------

def _short(exc: BaseException) -> str:
    """``Type: message`` as ``traceback.format_exception_only`` words it (module-qualified outside
    builtins), the last MESSAGE_CHARS characters; without importing traceback for every run."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a __str__ that raises
        text = "<exception str() failed>"
    return (f"{name}: {text}" if text else name)[-MESSAGE_CHARS:]


def _call(fn: Callable[[], Any]) -> str:
    """Run one test callable: "ok", "failed: ..." (assertion), "error: ..." (anything else)."""
    try:
        fn()
    except MemoryError:
        raise _Memory() from None
    except AssertionError as exc:
        return "failed: " + (_short(exc) or "AssertionError")
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from test code are failures too
        if type(exc).__name__ in ("SkipTest", "Skipped"):  # unittest's, pytest.skip()'s
            return f"{SKIPPED}: " + str(exc)[:MESSAGE_CHARS]
        if type(exc).__name__ == "Failed" and type(exc).__module__ == "_pytest.outcomes":  # pytest.fail()
            return "failed: " + _short(exc)
        return "error: " + _short(exc)
    return "ok"


def _zero_args(fn: types.FunctionType, bound: int = 0) -> bool:
    """Callable with no arguments (after ``bound`` leading ones such as self)."""
    code = fn.__code__
    required = code.co_argcount - len(fn.__defaults__ or ()) - bound
    kwonly = code.co_kwonlyargcount - len(fn.__kwdefaults__ or {})
    return required <= 0 and kwonly <= 0 and code.co_argcount >= bound


def _is_testcase(cls: Any) -> bool:
    unittest = sys.modules.get("unittest")  # no TestCase subclass can exist unless the tests imported it
    return unittest is not None and isinstance(cls, type) and issubclass(cls, unittest.TestCase)


def _run_testcase(cls: type, name: str) -> str:
    """One method of a ``unittest.TestCase``, alone in a suite of its own (so that ``setUpClass`` and
    ``setUpModule`` run around it, as unittest and pytest run them)."""
    unittest = sys.modules["unittest"]
    result = unittest.TestResult()
    unittest.TestSuite([cls(name)]).run(result)
    for _, text in result.errors:
        if _exception_line(text).startswith("MemoryError"):
            raise _Memory()
        return "error: " + _exception_line(text)
    for _, text in result.failures:
        return "failed: " + _exception_line(text)
    if result.skipped:
        return f"{SKIPPED}: " + str(result.skipped[0][1])[:MESSAGE_CHARS]
    return "ok"


def _exception_line(traceback: str) -> str:
    """The ``Type: message`` line of a formatted traceback (the first line after the last frame
    that is not indented: a multi-line message such as ``assertEqual``'s diff is cut after its
    first line), at most MESSAGE_CHARS characters."""
    lines = traceback.strip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    after = lines[frames[-1] + 1:] if frames else lines
    line = next((ln for ln in after if ln and not ln[0].isspace()), lines[-1] if lines else "")
    return line[:MESSAGE_CHARS]


def _optional(fn: Callable[..., Any], arg: Any) -> None:
    """Call an xunit set-up or tear-down as pytest does: with ``arg`` when it takes an argument."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    count = (code.co_argcount if code is not None else 0) - (1 if isinstance(fn, types.MethodType) else 0)
    fn(arg) if count > 0 else fn()


def _xunit(steps: list[tuple[Any, tuple[str, ...], tuple[str, ...], Any]], body: Callable[[], Any]) -> None:
    """``body`` inside pytest's xunit set-ups and tear-downs: per ``(owner, set-up names, tear-down
    names, argument)``, outermost first, the first name ``owner`` has; a tear-down runs (last in,
    first out) once the set-ups before it ran."""
    undo: list[tuple[Callable[..., Any], Any]] = []
    try:
        for owner, setups, teardowns, arg in steps:
            before = next((getattr(owner, n) for n in setups if callable(getattr(owner, n, None))), None)
            after = next((getattr(owner, n) for n in teardowns if callable(getattr(owner, n, None))), None)
            if before is not None:
                _optional(before, arg)
            if after is not None:
                undo.append((after, arg))
        body()
    finally:
        for after, arg in reversed(undo):
            _optional(after, arg)


_MODULE_XUNIT = (("setUpModule", "setup_module"), ("tearDownModule", "teardown_module"))


def _method_test(cls: Any, name: str, kwargs: dict[str, Any] | None = None) -> Callable[[], Any]:
    """A test method: a ``unittest.TestCase``'s through unittest; any other class's as pytest runs
    it (an instance per test, ``setup_class`` / ``setup_method`` and their tear-downs around it, the
    case's arguments passed)."""
    if _is_testcase(cls):
        return lambda: _run_testcase(cls, name)
    module = sys.modules.get(getattr(cls, "__module__", ""), None)

    def call() -> str:
        getattr(cls, name)  # an AttributeError before any set-up runs
        steps: list[tuple[Any, tuple[str, ...], tuple[str, ...], Any]] = [
            (module, *_MODULE_XUNIT, module), (cls, ("setup_class",), ("teardown_class",), cls)]

        def body() -> None:
            instance = cls()
            method = getattr(instance, name)
            _xunit([(instance, ("setup_method",), ("teardown_method",), method)], lambda: method(**(kwargs or {})))

        _xunit(steps, body)
        return "ok"

    return call


def _function_test(module: types.ModuleType, name: str, kwargs: dict[str, Any]) -> Callable[[], Any]:
    """A module-level test function as pytest runs it: ``setup_module`` / ``setup_function`` and
    their tear-downs around it, the case's arguments passed (what it returns is no verdict)."""
    fn = getattr(module, name)

    def call() -> None:
        _xunit([(module, *_MODULE_XUNIT, module), (module, ("setup_function",), ("teardown_function",), fn)],
               lambda: fn(**kwargs))

    return call


def _arguments(source: str, module: types.ModuleType | None) -> dict[str, Any]:
    """A parametrized case's arguments: the source of a dict literal (made by the pipeline from the
    test file's own ``parametrize``) of literals and the test module's top-level names, evaluated
    in that module's namespace without builtins."""
    if not source:
        return {}
    scope = {**(vars(module) if module is not None else {}), "__builtins__": {}}
    value = eval(compile(source, "<case>", "eval"), scope, {})  # noqa: S307 - literals and the module's names only
    if not isinstance(value, dict):
        raise TypeError("a case's arguments are not a dict")
    return value


def _load_file(path: str, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _run_wrapped(fn: Callable[[], Any]) -> str:
    """Like _call, but a callable may itself return a verdict string (unittest cases)."""
    box: dict[str, Any] = {}

    def inner() -> None:
        box["v"] = fn()

    verdict = _call(inner)
    if verdict == "ok" and isinstance(box.get("v"), str):
        return box["v"]
    return verdict


def _found_tests(module: types.ModuleType) -> list[tuple[str, Callable[[], Any]]]:
    """The tests of a tests module, in order: zero-argument ``test*`` functions, then per ``Test*``
    class, and per ``unittest.TestCase`` subclass the module defines whatever its name, its
    zero-argument ``test*`` methods (``Class.method``)."""
    found: list[tuple[str, Callable[[], Any]]] = []
    for attr, value in list(vars(module).items()):
        if attr.startswith("test") and isinstance(value, types.FunctionType) and _zero_args(value):
            found.append((attr, value))
        elif isinstance(value, type) and (attr.startswith("Test")
                                          or (_is_testcase(value) and value.__module__ == module.__name__)):
            for meth in sorted(dir(value)):
                fn = getattr(value, meth, None)
                if meth.startswith("test") and isinstance(fn, types.FunctionType) and _zero_args(fn, bound=1):
                    found.append((f"{attr}.{meth}", _method_test(value, meth)))
    return found


def run_files(job: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
    """Files mode: load the tests module, record the tests it holds (or why it did not load), run each."""
    path = job["tests"]
    sys.path.insert(0, os.getcwd())  # -I implies -P: the script's dir is not on sys.path
    name = os.path.splitext(os.path.basename(path))[0]
    loaded = _call(lambda: _load_file(path, name))
    module = sys.modules.get(name)
    if loaded != "ok" or module is None:
        emit({"discover": True, "module": loaded})
        return
    found = _found_tests(module)
    emit({"discover": True, "tests": [label for label, _ in found]})
    for label, fn in found:
        emit({"test": label, "verdict": _run_wrapped(fn)})


def _doctest(module: types.ModuleType, symbol: str, docstring: str, path: str) -> str:
    """The verdict of the examples in ``docstring``, run in the module's globals."""
    doctest = sys.modules["doctest"]  # imported by the judge, before the repository was on sys.path
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


def _test_module_name(path: str) -> str:
    stem = path[:-3] if path.endswith(".py") else path
    return stem.replace("/", ".").replace("-", "_")


def _count_calls(module: types.ModuleType, symbol: str, root: str = "") -> dict[str, int] | None:
    """Wrap the function under test so that each test can say whether it called it at all (a test
    linked by name may not): returns the call counter, or None when the target can't be wrapped
    faithfully (a C function, an lru_cache wrapper...). Tests then import the wrapped one; where
    another module of the repository (under ``root``) holds the same function, re-exported
    (``from .more import *`` in a package's ``__init__``), it holds the wrapped one too."""
    head, _, name = symbol.rpartition(".")
    owner = getattr(module, head) if head and hasattr(module, head) else (None if head else module)
    raw = vars(owner).get(name) if owner is not None else None
    box = {"n": 0}

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            box["n"] += 1
            return fn(*args, **kwargs)
        return counted

    if isinstance(raw, staticmethod):
        new: Any = staticmethod(wrap(raw.__func__))
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
    if not head and root:
        _rebind(raw, new, module, root)
    return box


def _rebind(old: Any, new: Any, home: types.ModuleType, root: str) -> None:
    """Every name bound to ``old`` in the repository's other loaded modules is bound to ``new``."""
    inside = os.path.join(root, "")
    for other in list(sys.modules.values()):
        path = getattr(other, "__file__", None)
        if other is home or not isinstance(path, str) or not path.startswith(inside):
            continue
        try:
            names = [key for key, value in vars(other).items() if value is old]
            for key in names:
                setattr(other, key, new)
        except Exception:  # noqa: BLE001 - a module object that refuses: its callers go uncounted
            continue


def _judged(run: Callable[[], str], calls: dict[str, int] | None, symbol: str, what: str = "test") -> str:
    """``run()``'s verdict, or not_called when it passed without ever calling ``symbol``."""
    before = calls["n"] if calls is not None else 0
    verdict = run()
    if verdict == "ok" and calls is not None and calls["n"] == before:
        return f"{NOT_CALLED}: the {what} never called {symbol}"
    return verdict


def label_of(job: dict[str, Any], ref: dict[str, Any]) -> str:
    """How a test reference is named in the verdict: ``doctest f``, or the test's pytest node id
    (``tests/t.py::TestC::test_a``, ``tests/t.py::test_b[1-2]``: the dots of a case's id kept)."""
    if ref["kind"] == "doctest":
        return f"doctest {job['symbol']}"
    head, bracket, case = ref["name"].partition("[")
    return f"{ref['path']}::{head.replace('.', '::')}{bracket}{case}"


def requested(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tests a function job asks for, by label, in order (a reference given twice runs once)."""
    refs: dict[str, dict[str, Any]] = {}
    for ref in job["tests"]:
        refs.setdefault(label_of(job, ref), ref)
    return refs


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass


def _drain(fd: int, limit: int = 1 << 16) -> bytes:
    """What is in the pipe ``fd`` now (its writer has ended; a process it left may hold it open,
    so never wait for the end), at most ``limit`` bytes; closes it."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while len(data) < limit:
            chunk = os.read(fd, limit - len(data))
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    os.close(fd)
    return data


def _alone(label: str, run: Callable[[], str], out: int | None) -> dict[str, Any]:
    """Run one test in a process of its own, forked from this one once the module under test and
    the tests files are imported: no test sees what another left behind, and one that ends its
    process (``os._exit``, a crash) fails itself only. Its record comes back on a pipe of its own
    (the judge's pipe, ``out``, is closed in it) and counts only when it names this test; without
    one the test fails. A MemoryError comes back as ``{"memory": True}``."""
    read_end, write_end = os.pipe()
    _flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            if out is not None:
                os.close(out)
            record: dict[str, Any] = {"memory": True}
            try:
                record = {"test": label, "verdict": run()}
            except (_Memory, MemoryError):
                pass
            _flush()
            _write_all(write_end, (json.dumps(record) + "\n").encode("utf-8"))
        finally:
            os._exit(0)
    os.close(write_end)
    status = os.waitpid(pid, 0)[1]
    line = _drain(read_end).split(b"\n", 1)[0]
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict) and (record == {"memory": True} or (
            record.get("test") == label and isinstance(record.get("verdict"), str) and len(record) == 2)):
        return record
    return {"test": label, "verdict": f"error: the test process ended without reporting its result ({_how(status)})"}


def run_function(job: dict[str, Any], emit: Callable[[dict[str, Any]], None], out: int | None = None) -> None:
    """Function mode: import the module from the repository and the tests files, then run each
    requested test against it, alone (``_alone``), by its node id; stop at a MemoryError."""
    root = os.path.abspath(job["root"])
    import_root = os.path.join(root, job.get("import_root") or "")
    for entry in (root, os.path.normpath(import_root)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.chdir(root)
    refs = requested(job)
    try:
        module = importlib.import_module(job["module"])
    except MemoryError:
        raise _Memory() from None
    except BaseException as exc:
        why = "error: import failed: " + _short(exc)
        for label in refs:
            emit({"test": label, "verdict": why})
        return
    calls = _count_calls(module, job["symbol"], root)
    loaded: dict[str, str] = {}
    for label, ref in refs.items():
        test = _prepare(job, ref, module, calls, root, loaded)
        record = {"test": label, "verdict": test} if isinstance(test, str) else _alone(label, test, out)
        emit(record)
        if record.get("memory"):
            return


def _prepare(job: dict[str, Any], ref: dict[str, Any], module: types.ModuleType, calls: dict[str, int] | None,
             root: str, loaded: dict[str, str]) -> str | Callable[[], str]:
    """What runs one requested test (its tests file imported here, once), or the verdict when it
    cannot run (the file does not import, no such test, arguments that do not evaluate)."""
    if ref["kind"] == "doctest":
        return lambda: _judged(lambda: _doctest(module, job["symbol"], job.get("docstring", ""), job["path"]),
                               calls, job["symbol"], "examples")
    path = ref["path"]
    name = _test_module_name(path)
    if path not in loaded:
        parent = name.rpartition(".")[0]
        if parent:
            try:
                importlib.import_module(parent)
            except Exception:  # noqa: BLE001 - a tests dir need not be a package
                pass
        loaded[path] = _call(lambda: _load_file(os.path.join(root, path), name))
    if loaded[path] != "ok":
        return "error: test file failed to import: " + loaded[path]
    target = sys.modules.get(name)
    head, _, meth = ref["name"].partition("[")[0].rpartition(".")
    try:
        kwargs = _arguments(ref.get("args") or "", target)
        obj = getattr(target, head) if head else None
        fn = _method_test(obj, meth, kwargs) if head else _function_test(target, meth, kwargs)
    except Exception as exc:  # noqa: BLE001 - no such test, or arguments that do not evaluate
        return "error: " + _short(exc)
    return lambda: _judged(lambda: _run_wrapped(fn), calls, job["symbol"])


def _test_process(job: dict[str, Any], out: int, go: int) -> None:
    """The body of the test process (never returns): once the judge says ``go`` (it has read the
    nonce), run the job, writing one JSON record per test to ``out`` as it ends, then the end
    marker; exit. Every descriptor but stdout, stderr, ``out`` and ``go`` is closed first. A
    failure of the runner itself leaves the end marker out."""
    try:
        low, high = sorted((out, go))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, max(high + 2, os.sysconf("SC_OPEN_MAX")))
        _devnull_stdin()  # the nonce, still unread, is in the judge's stdin: not here
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
        _prctl(PR_SET_DUMPABLE, 1)  # the judge's setting is inherited; this process keeps no secret (tests may read /proc/self)
        # no code under test runs before the judge has taken the nonce out of the pipe that brought
        # it (which another process of the sandbox, bwrap's init, may hold open too)
        if os.read(go, 1) != b"1":
            return  # the judge is gone
        os.close(go)

        def emit(record: dict[str, Any]) -> None:
            _flush()
            _write_all(out, (json.dumps(record) + "\n").encode("utf-8"))

        try:
            # started with -S (no site hooks): the interpreter's site-packages, after everything imported so far
            sys.path.extend(p for p in job.get("site_packages", ()) if p not in sys.path)
            if job["mode"] == "files":
                run_files(job, emit)
            else:
                run_function(job, emit, out)
        except (_Memory, MemoryError):
            emit({"memory": True})
        _write_all(out, (END + "\n").encode("utf-8"))
    finally:
        os._exit(0)


# --- the judge ---------------------------------------------------------------------------------------

def _mentions_unittest(job: dict[str, Any]) -> bool:
    """Whether a tests file of the job names unittest (read as bytes, never run)."""
    if job["mode"] == "files":
        paths = [job["tests"]]
    else:
        paths = [os.path.join(job["root"], ref["path"]) for ref in job["tests"] if ref["kind"] != "doctest"]
    for path in paths:
        try:
            with open(path, "rb") as handle:
                if b"unittest" in handle.read(4 << 20):
                    return True
        except OSError:
            pass
    return False


def _preload(job: dict[str, Any]) -> None:
    """Import the runner's modules for this job now, before the test process exists and so before
    anything puts the repository on sys.path (doctest and unittest cost more than the
    interpreter's own start-up: only when the job can use them)."""
    if job["mode"] == "function" and any(ref["kind"] == "doctest" for ref in job["tests"]):
        importlib.import_module("doctest")
    if _mentions_unittest(job):
        importlib.import_module("unittest")


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, state letter) of a process, from ``/proc/PID/stat``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return (int(fields[1]), fields[0]) if len(fields) > 1 else None


def _descendants(root: int) -> list[int]:
    """Live processes below ``root`` (through ``/proc``)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            seen = _stat(name)
            if seen is not None and seen[1] not in "ZX":
                children.setdefault(seen[0], []).append(int(name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            found.append(pid)
            todo.append(pid)
    return found


def _sweep(first: int) -> int | None:
    """Kill the test process ``first`` (its report is in, or it closed its pipe: it has nothing more
    to say) and everything it left (the judge is a child subreaper: it inherits their orphans), reap
    them all; the wait status of ``first``."""
    status = None
    try:
        os.kill(first, SIGKILL)
        status = os.waitpid(first, 0)[1]
    except (ChildProcessError, ProcessLookupError):
        pass
    try:
        os.waitpid(-1, os.WNOHANG)  # something it started is still there (now a child of ours)
    except ChildProcessError:
        return status  # nothing left: the usual case, without reading /proc
    me = os.getpid()
    while True:
        for pid in _descendants(me):
            try:
                os.kill(pid, SIGKILL)
            except OSError:
                pass
        try:
            got, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if got == 0:
            time.sleep(0.002)
        elif got == first and status is None:
            status = st


def _collect(fd: int) -> bytes:
    """What the test process writes to ``fd``, up to its end marker or until the pipe closes (a
    process it left that holds the pipe open without a report runs into the wall-time limit: a
    failure too); at most REPORT_BYTES (+1, so that more shows)."""
    data = bytearray()
    end = (END + "\n").encode()
    while len(data) <= REPORT_BYTES and not (data.endswith(b"\n" + end) or data == end):
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return bytes(data[:REPORT_BYTES + 1])


def _records(report: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The JSON records of a report, and whether the end marker came right after them and closed
    it (a report cut short keeps the whole records before the cut)."""
    lines = report.decode("utf-8", "replace").split("\n")
    ended = len(lines) >= 2 and lines[-2] == END and lines[-1] == ""
    records = []
    for line in lines[:-2] if ended else lines[:-1]:
        try:
            record = json.loads(line)
        except ValueError:
            return records, False
        if not isinstance(record, dict):
            return records, False
        records.append(record)
    return records, ended


def _how(status: int | None) -> str:
    if status is None:
        return "its status is unknown"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status) if os.WIFEXITED(status) else status}"


class Verdicts:
    """What the judge makes of the test process's report: a verdict per requested test, whether a
    MemoryError stopped the run, and how the test process ended when it did not report in full."""

    def __init__(self, records: list[dict[str, Any]], ended: bool, status: int | None):
        self.records, self.ended, self.status = records, ended, status
        self.tests: dict[str, str] = {}
        self.memory = False
        self.unreported: int | None = None  # the wait status of a test process that did not report in full

    def missing(self, label: str) -> None:
        self.tests[label] = f"error: the test process ended without reporting its result ({_how(self.status)})"
        self.unreported = self.status if self.status is not None else 1 << 8

    def take(self, records: list[dict[str, Any]], labels: list[str]) -> None:
        """One verdict for each of ``labels``, in order, each from its own record (a record for any
        other test, or a second one, breaks the report). A test without a record, or a report
        without its end marker, fails the run; a MemoryError record stops it."""
        verdicts: dict[str, str] = {}
        ended = self.ended
        for record in records:
            if record.get("memory") is True:
                self.memory = True
                break
            label, verdict = record.get("test"), record.get("verdict")
            if label not in labels or label in verdicts or not isinstance(verdict, str):
                ended = False
                break
            verdicts[label] = verdict[:VERDICT_CHARS]
        for label in labels:
            if label not in verdicts:
                if not self.memory:
                    self.missing(label)
                return
            self.tests[label] = verdicts[label]
        if not ended and not self.memory:
            self.missing(labels[-1] if labels else "<module>")

    def function(self, job: dict[str, Any]) -> None:
        self.take(self.records, list(requested(job)))

    def files(self) -> None:
        """First the record of what the tests module holds, then one per test it listed."""
        first = self.records[0] if self.records else {}
        if first.get("memory") is True:
            self.memory = True
        elif first.get("discover") is not True:
            self.missing("<module>")
        elif isinstance(first.get("module"), str):  # the tests module did not load: that is the verdict
            self.tests["<module>"] = first["module"][:VERDICT_CHARS]
            if not self.ended or len(self.records) > 1:
                self.missing("<module>")
        else:
            labels = first.get("tests")
            if (not isinstance(labels, list) or len(set(map(str, labels))) != len(labels)
                    or not all(isinstance(t, str) and 0 < len(t) <= LABEL_CHARS for t in labels)):
                self.missing("<module>")
            elif not labels:  # nothing to call: loading the tests module was the test
                self.tests["<module>"] = "ok"
                if not self.ended or len(self.records) > 1:
                    self.missing("<module>")
            else:
                self.take(self.records[1:], labels)


def _read_nonce() -> str:
    data = b""
    while b"\n" not in data and len(data) < 4096:
        chunk = os.read(0, 4096)
        if not chunk:
            break
        data += chunk
    _devnull_stdin()
    return data.split(b"\n", 1)[0].decode("ascii", "replace").strip()


def _end_as(status: int | None, fallback: int) -> None:
    """Exit as a test process that did not report in full ended (its exit status or its signal)."""
    if status is not None and os.WIFSIGNALED(status):
        import signal  # the judge never has the repository on sys.path: importing late is safe here

        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
    os._exit(os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else fallback)


def main() -> None:
    _prctl(PR_SET_DUMPABLE, 0)  # first of all: no /proc/PID/mem, fd or environ of the judge for anyone else
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # whatever the test process leaves behind stays below the judge
    with open(sys.argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    _preload(job)
    read_end, write_end = os.pipe()
    go_r, go_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()  # before the nonce is read: the test process never holds it
    if pid == 0:
        os.close(read_end)
        os.close(go_w)
        _test_process(job, write_end, go_r)
    os.close(write_end)
    os.close(go_r)
    nonce = _read_nonce()
    _write_all(go_w, b"1")
    os.close(go_w)
    report = _collect(read_end)
    status = _sweep(pid)
    records, ended = _records(report)
    verdicts = Verdicts(records, ended, status)
    if job["mode"] == "files":
        verdicts.files()
    else:
        verdicts.function(job)
    # tests that never ran the target, and skipped ones, say nothing
    judged = [v for v in verdicts.tests.values() if not v.startswith((NOT_CALLED, SKIPPED))]
    passed = bool(judged) and not verdicts.memory and verdicts.unreported is None and all(v == "ok" for v in judged)
    # on a line of its own, even after a test printed without a final newline
    line = "\n" + nonce + " " + json.dumps({"tests": verdicts.tests, "memory": verdicts.memory, "passed": passed}) + "\n"
    _write_all(1, line.encode("utf-8"))
    if verdicts.memory:
        os._exit(3)
    if verdicts.unreported is not None:
        _end_as(verdicts.unreported, 1)
    os._exit(0 if passed else 1)


if __name__ == "__main__":
    main()
