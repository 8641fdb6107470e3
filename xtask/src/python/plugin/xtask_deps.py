"""What each test depended on, for change-aware selection (``XTASK_DEPS``).

Loaded by ``xtask_events`` when ``XTASK_DEPS`` names the project's root. In
every process that runs tests (a serial pytest, each xdist worker, each
process of the shards engine) it records, per test:

``f``
    The project's functions the test executed, as ``path::Qual.name``, and
    the blocks of them it entered that run on a condition, as
    ``path::Qual.name:LINE``. The project's own modules (every ``.py`` under
    the root that is not a test module, a ``conftest.py`` or in a virtual
    environment) are compiled with one added statement at the top of each
    function body and of each such block, which adds the key to a set
    through ``__xtask_hit__``, a name of ``builtins`` (never of the
    modules' own globals, which tests may list and call): the
    cost is one set insertion per call of a project function or block
    entered, and nothing anywhere else. Their bytecode never goes to the
    project's ``__pycache__``: the instrumented code is cached beside this
    plugin, so nothing instrumented is left in the project; the xtask
    removes what no run has loaded for a month.
``o``
    The project's files (other than Python sources) the test opened, seen
    through an audit hook on ``open``.
``sp``
    Whether the test started a process (``subprocess``, ``os.system``,
    ``os.exec*``, ``os.posix_spawn``): code run there is not seen here.
``sh``
    Whether the test used a fixture wider than the function (module, class,
    package, session), whose state other tests also saw; ``shc`` when the
    widest was class-scoped and the test is in a class, whose tests alone
    saw it.

What a fixture executes while it is set up is recorded for the fixture and
added to every test that uses it. What runs outside any test (imports during
collection, module-level code, session hooks) is reported as ``g`` (keys)
and ``m`` (the instrumented files imported), each only the part not already
sent from this process.

What a test module's own body executes while pytest imports it (the
project's functions building its constants, classes and parameters) is
reported apart, as ``gc``: test module node id -> keys and files, for the
xtask to add to that module's tests, unless the module is imported
elsewhere or the code keeps state (it then counts as outside any test).
It is told apart only when importing the test module imported no other
module: a module first imported then runs its own body, which every later
importer shares, so that collection's keys all count as outside.

Keys and paths travel as numbers: each process numbers them in the order it
first reports them, and a report carries the names of the numbers it uses
for the first time (``k`` for keys, ``p`` for paths) with its ``pid``, so a
reader rebuilds each process's table from its reports, in order.

The record travels as an attribute of the teardown report, which xdist
carries from its workers to the controller, where ``xtask_events`` writes it
into the test's event as ``deps``.
"""

import ast
import builtins
import fnmatch
import hashlib
import importlib.machinery
import marshal
import os
import sys

import pytest

HITS = set()
OPENED = set()
# Instrumented code, by source: beside this plugin, whose directory is its
# version's own.
_CODE_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deps-code")
_SPAWNED = [False]
IMPORTED = set()
_PROJECT = [None]

_SPAWN_EVENTS = frozenset(
    ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork")
)


class _Project:
    """Which files are the project's own, and their keys."""

    def __init__(self, root, test_globs):
        self.root = os.path.realpath(root)
        self.prefix = self.root.rstrip(os.sep) + os.sep
        self.test_globs = list(test_globs)
        excluded = [sys.prefix, sys.exec_prefix, os.path.dirname(__file__)]
        self.excluded = [os.path.realpath(p).rstrip(os.sep) + os.sep for p in excluded]

    def relative(self, path):
        """The path from the root, or None when the file is not the project's."""
        try:
            path = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        if not path.startswith(self.prefix):
            return None
        if any(path.startswith(p) for p in self.excluded):
            return None
        rel = path[len(self.prefix):]
        parts = rel.split(os.sep)
        if any(
            part.startswith(".") or part in ("site-packages", "dist-packages", "__pycache__")
            for part in parts[:-1]
        ):
            return None
        return "/".join(parts)

    def source(self, path):
        """The key prefix of a project module to instrument, or None."""
        if not path.endswith(".py"):
            return None
        rel = self.relative(path)
        if rel is None:
            return None
        name = rel.rsplit("/", 1)[-1]
        if name == "conftest.py" or any(fnmatch.fnmatch(name, g) for g in self.test_globs):
            return None
        return rel


def _mark(key, at):
    mark = ast.Expr(ast.Call(ast.Name("__xtask_hit__", ast.Load()), [ast.Constant(key)], []))
    return ast.copy_location(mark, at)


def _first_line(statement):
    """The line a statement starts on, its decorators included."""
    lines = [d.lineno for d in getattr(statement, "decorator_list", ())]
    return min(lines + [statement.lineno])


class _Marker(ast.NodeTransformer):
    """Adds ``__xtask_hit__("path::Qual.name")`` at the top of every function
    body, and ``__xtask_hit__("path::Qual.name:LINE")`` at the top of every
    block of it that runs on a condition (the body of an ``if``, ``elif``,
    ``else``, loop, ``except`` or ``case``; LINE: where its first statement
    starts), so a change inside such a block selects only the tests that
    entered it."""

    def __init__(self, rel):
        self.rel = rel
        self.names = []
        # The key of the function whose blocks are being marked, or None
        # (module level, class bodies).
        self.function = [None]

    def visit_ClassDef(self, node):
        self.names.append(node.name)
        self.function.append(None)
        self.generic_visit(node)
        self.function.pop()
        self.names.pop()
        return node

    def _function(self, node):
        self.names.append(node.name)
        key = "%s::%s" % (self.rel, ".".join(self.names))
        self.function.append(key)
        self.generic_visit(node)
        self.function.pop()
        self.names.pop()
        body = node.body
        first = body[0]
        docstring = (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        )
        body.insert(1 if docstring else 0, _mark(key, first))
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def _block(self, body):
        key = self.function[-1]
        if key is not None and body:
            body.insert(0, _mark("%s:%d" % (key, _first_line(body[0])), body[0]))

    def visit_If(self, node):
        self.generic_visit(node)
        self._block(node.body)
        orelse = node.orelse
        elif_ = (
            len(orelse) == 1
            and isinstance(orelse[0], ast.If)
            and orelse[0].col_offset == node.col_offset
        )
        if not elif_:
            # An ``elif`` is its own ``If``, marked when visited.
            self._block(orelse)
        return node

    def _loop(self, node):
        self.generic_visit(node)
        self._block(node.body)
        self._block(node.orelse)
        return node

    visit_For = visit_AsyncFor = visit_While = _loop

    def _try(self, node):
        self.generic_visit(node)
        for handler in node.handlers:
            self._block(handler.body)
        self._block(node.orelse)
        return node

    visit_Try = _try
    if hasattr(ast, "TryStar"):
        visit_TryStar = _try

    def visit_Match(self, node):
        self.generic_visit(node)
        for case in node.cases:
            self._block(case.body)
        return node


class _Loader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname, path, rel):
        super().__init__(fullname, path)
        self.rel = rel

    def get_code(self, fullname):
        # Never the project's bytecode cache, in either direction: the
        # instrumented code must not be read from it or left in it. It is
        # kept beside this plugin instead, by the source's content, its
        # path and the interpreter, so a module unchanged since the last
        # run is not parsed and instrumented again.
        source = self.get_data(self.path)
        IMPORTED.add(self.rel)
        key = hashlib.sha1(source)
        key.update(
            ("\0%s\0%s\0%s\0%d" % (self.path, self.rel, sys.version, sys.flags.optimize)).encode()
        )
        cached = os.path.join(_CODE_CACHE, key.hexdigest() + ".bin")
        try:
            with open(cached, "rb") as f:
                code = marshal.load(f)
        except (OSError, EOFError, ValueError, TypeError):
            code = None
        if code is not None:
            # Marked as used: the xtask removes what no run has loaded for
            # a month.
            try:
                os.utime(cached)
            except OSError:
                pass
            return code
        tree = ast.parse(source, self.path)
        tree = ast.fix_missing_locations(_Marker(self.rel).visit(tree))
        code = compile(tree, self.path, "exec", dont_inherit=True)
        try:
            os.makedirs(_CODE_CACHE, exist_ok=True)
            partial = "%s.%d" % (cached, os.getpid())
            with open(partial, "wb") as f:
                marshal.dump(code, f)
            os.replace(partial, cached)
        except OSError:
            pass
        return code


class _Finder:
    def __init__(self, project):
        self.project = project
        self.stdlib = frozenset(getattr(sys, "stdlib_module_names", ()))
        self.inside = {}

    def _inside(self, directory):
        known = self.inside.get(directory)
        if known is None:
            known = self.inside[directory] = isinstance(directory, str) and os.path.realpath(
                directory
            ).startswith(self.project.prefix)
        return known

    def find_spec(self, fullname, path=None, target=None):
        if path is None:
            if fullname in self.stdlib:
                return None
        elif not any(self._inside(p) for p in path):
            # A submodule of a package that is not the project's.
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return None
        rel = self.project.source(spec.origin)
        if rel is None:
            return None
        spec.loader = _Loader(fullname, spec.origin, rel)
        return spec

    def invalidate_caches(self):
        pass


def _audit(project):
    def hook(event, args):
        if event == "open":
            path = args[0]
            if isinstance(path, (str, bytes)) and not isinstance(path, int):
                rel = project.relative(path)
                if rel is not None and not rel.endswith((".py", ".pyc")):
                    OPENED.add(rel)
        elif event in _SPAWN_EVENTS:
            _SPAWNED[0] = True

    return hook


def _is_file(module, path):
    """Whether ``module`` was loaded from ``path``."""
    try:
        return os.path.realpath(module.__file__) == os.path.realpath(path)
    except (AttributeError, TypeError, ValueError):
        return False


def _take():
    """Everything recorded since the last take, and a fresh start."""
    # (Only keys: code may call ``__xtask_hit__`` with anything.)
    taken = ({k for k in HITS if k.__class__ is str}, set(OPENED), _SPAWNED[0])
    HITS.clear()
    OPENED.clear()
    _SPAWNED[0] = False
    return taken


def _numbered(table, values, new):
    """The numbers of ``values`` in ``table``, numbering (and adding to
    ``new``) those it has not seen."""
    out = []
    for value in values:
        number = table.get(value)
        if number is None:
            number = table[value] = len(table)
            new.append(value)
        out.append(number)
    return out


class _Recorder:
    def __init__(self):
        self.key_numbers = {}
        self.path_numbers = {}
        # id(fixturedef) -> [keys, files, spawned]
        self.fixtures = {}
        self.outside = set()
        self.sent_outside = set()
        self.sent_imported = set()
        # Test module node id -> [keys, files] its own body executed and
        # opened while it was imported, and those not sent yet.
        self.collected = {}
        self.unsent_collected = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector):
        project = _PROJECT[0]
        path = str(getattr(collector, "path", "") or "")
        if (
            project is None
            or not isinstance(collector, pytest.Module)
            or not path.endswith(".py")
            or os.path.basename(path) == "conftest.py"
            or project.relative(path) is None
            # A module of the project's own (a doctest module): its body is
            # what every importer of it shares.
            or project.source(path) is not None
        ):
            yield
            return
        keys, _, _ = _take()
        self.outside |= keys
        modules = set(sys.modules)
        spawned = _SPAWNED[0]
        yield
        keys, files, spawned_here = _take()
        _SPAWNED[0] = spawned
        nested = spawned_here or any(
            not _is_file(sys.modules.get(name), path) for name in set(sys.modules) - modules
        )
        if nested or collector.nodeid in self.collected:
            self.outside |= keys
        elif keys or files:
            self.collected[collector.nodeid] = [keys, files]
            self.unsent_collected.append(collector.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        keys, _, _ = _take()
        self.outside |= keys
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        before = _take()
        try:
            yield
        finally:
            keys, files, spawned = _take()
            entry = self.fixtures.setdefault(id(fixturedef), [set(), set(), False])
            entry[0] |= keys
            entry[1] |= files
            entry[2] = entry[2] or spawned
            HITS.update(before[0])
            OPENED.update(before[1])
            _SPAWNED[0] = before[2]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        if call.when != "teardown":
            return
        keys, files, spawned = _take()
        shared = set()
        info = getattr(item, "_fixtureinfo", None)
        defs = getattr(info, "name2fixturedefs", None) or {}
        for name in getattr(item, "fixturenames", ()):
            for fixturedef in defs.get(name, ()):
                scope = getattr(fixturedef, "scope", "function")
                if scope != "function":
                    shared.add(scope)
                entry = self.fixtures.get(id(fixturedef))
                if entry is not None:
                    keys |= entry[0]
                    files |= entry[1]
                    spawned = spawned or entry[2]
        new_keys, new_paths = [], []
        deps = {
            "pid": os.getpid(),
            "f": _numbered(self.key_numbers, sorted(keys), new_keys),
            "o": _numbered(self.path_numbers, sorted(files), new_paths),
            "sp": spawned,
            "sh": bool(shared),
        }
        if shared == {"class"} and getattr(item, "cls", None) is not None:
            deps["shc"] = True
        if new_keys:
            deps["k"] = new_keys
        if new_paths:
            deps["p"] = new_paths
        outside = self.outside - self.sent_outside
        if outside:
            deps["g"] = sorted(outside)
            self.sent_outside |= outside
        imported = IMPORTED - self.sent_imported
        if imported:
            deps["m"] = sorted(imported)
            self.sent_imported |= imported
        if self.unsent_collected:
            deps["gc"] = {
                nodeid: [sorted(self.collected[nodeid][0]), sorted(self.collected[nodeid][1])]
                for nodeid in self.unsent_collected
            }
            self.unsent_collected = []
        outcome.get_result().xtask_deps = deps


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config):
    """Installs the import hook before the project's conftest files import
    anything of the project."""
    root = os.environ.get("XTASK_DEPS")
    if not root:
        return
    globs = early_config.getini("python_files") or ["test_*.py", "*_test.py"]
    project = _PROJECT[0] = _Project(root, globs)
    builtins.__xtask_hit__ = HITS.add
    sys.meta_path.insert(0, _Finder(project))
    sys.addaudithook(_audit(project))


def pytest_configure(config):
    if os.environ.get("XTASK_DEPS") and not config.pluginmanager.has_plugin("dsession"):
        config.pluginmanager.register(_Recorder(), "xtask-deps-recorder")
