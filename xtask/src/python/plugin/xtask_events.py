"""The xtask's pytest plugin: what pytest collected and how every test ended,
as one stream of compact JSON lines (schema version 1, documented in
docs/testing.md under "How the xtask reads pytest").

The xtask ships this file and loads it with ``-p xtask_events`` from a
directory it puts on ``PYTHONPATH``; nothing is installed into the project's
environment. It is driven by environment variables, which xdist's workers
inherit:

``XTASK_EVENTS``
    The file the stream is appended to. Only the process that owns the
    session writes: a serial pytest, or xdist's controller (which receives
    every worker's reports); xdist's workers never write.
``XTASK_SELECT``
    A file of node ids, one per line: only these tests run, in this order.
    Node ids that contain ``::`` or other characters pytest cannot take on
    its command line are selected here, after collection.
``XTASK_ORDER``
    A file of scopes (module paths), one per line: tests run in this order
    of their modules, stably; modules not listed run first.
``XTASK_WORKER``
    The label of a process the xtask runs beside others (the shards engine's
    ``gw<i>``), put on the events of tests that no xdist worker ran.

One event per test is written when its teardown is reported, so the cost per
test is one small JSON line, whatever the user's ``-q``/``-v``/``-ra``.
"""

import json
import os
import sys
import time

import pytest

SCHEMA = 1

# Set while the plugin itself deselects: the stream counts only what the
# user's own selection (``-k``, ``-m``) left out.
_selecting = False


def _read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def _is_xdist_worker(config):
    return hasattr(config, "workerinput")


def _is_xdist_controller(config):
    return config.pluginmanager.has_plugin("dsession")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    select = os.environ.get("XTASK_SELECT")
    if select:
        rank = {nodeid: i for i, nodeid in enumerate(_read_lines(select))}
        keep = [item for item in items if item.nodeid in rank]
        drop = [item for item in items if item.nodeid not in rank]
        keep.sort(key=lambda item: rank[item.nodeid])
        if drop:
            global _selecting
            _selecting = True
            try:
                config.hook.pytest_deselected(items=drop)
            finally:
                _selecting = False
        items[:] = keep
    order = os.environ.get("XTASK_ORDER")
    if order:
        rank = {scope: i for i, scope in enumerate(_read_lines(order))}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], -1))


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    path = os.environ.get("XTASK_EVENTS")
    if path and not _is_xdist_worker(config):
        config.pluginmanager.register(_Reporter(config, path), "xtask-events-reporter")


def _one_line(report):
    """Where and why a phase failed or was skipped, in one line."""
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        message = (crash.message or "").splitlines()
        return "%s:%s: %s" % (crash.path, crash.lineno, message[0] if message else "")
    lines = [line.strip() for line in str(longrepr).splitlines() if line.strip()]
    return lines[-1] if lines else None


def _full_text(report):
    """The failure as pytest prints it, with the captured output."""
    parts = [report.longreprtext]
    for title, content in getattr(report, "sections", ()):
        if content:
            parts.append("---- %s ----\n%s" % (title, content.rstrip("\n")))
    return "\n".join(part for part in parts if part)


def _worker(report):
    worker = getattr(report, "worker_id", None)
    if worker is None:
        node = getattr(report, "node", None)
        gateway = getattr(node, "gateway", None)
        worker = getattr(gateway, "id", None)
    return worker


def _subtest_description(report):
    context = getattr(report, "context", None)
    parts = []
    msg = getattr(context, "msg", None)
    if msg is not None:
        parts.append("[%s]" % (msg,))
    kwargs = getattr(context, "kwargs", None) or {}
    if kwargs:
        parts.append("(%s)" % ", ".join("%s=%s" % item for item in kwargs.items()))
    return " ".join(parts) or "(<subtest>)"


def _is_subtest(report):
    return type(report).__name__ in ("SubtestReport", "SubTestReport") and hasattr(
        report, "context"
    )


class _Reporter:
    def __init__(self, config, path):
        self.config = config
        # Line-buffered: every event reaches the file as one write, so the
        # xtask can follow the run and a crash loses no finished test.
        self.file = open(path, "a", encoding="utf-8", errors="backslashreplace", buffering=1)
        self.encode = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), default=str
        ).encode
        self.tests = {}
        self.deselected = 0
        self.label = os.environ.get("XTASK_WORKER") or None

    def emit(self, event):
        self.file.write(self.encode(event) + "\n")

    def pytest_sessionstart(self, session):
        config = self.config
        option = config.option
        self.emit(
            {
                "e": "start",
                "v": SCHEMA,
                "pid": os.getpid(),
                "time": time.time(),
                "pytest": pytest.__version__,
                "python": "%d.%d.%d" % sys.version_info[:3],
                "rootdir": str(config.rootpath),
                "inifile": str(config.inipath) if config.inipath else None,
                "testpaths": list(config.getini("testpaths") or []),
                "args": [str(arg) for arg in config.args],
                "collect_only": bool(getattr(option, "collectonly", False)),
                "xdist": _is_xdist_controller(config),
                "workers": getattr(option, "numprocesses", None) or 0,
                "worker": self.label,
            }
        )

    def pytest_deselected(self, items):
        if not _selecting:
            self.deselected += len(items)

    def pytest_collectreport(self, report):
        if report.failed:
            self.emit(
                {
                    "e": "collect_error",
                    "id": report.nodeid,
                    "msg": _one_line(report) or "collection failed",
                    "text": _full_text(report),
                }
            )

    def pytest_collection_finish(self, session):
        if _is_xdist_controller(self.config):
            return
        self.emit(
            {
                "e": "collected",
                "worker": self.label,
                "ids": [item.nodeid for item in session.items],
                "deselected": self.deselected,
            }
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self.emit({"e": "collected", "worker": node.gateway.id, "ids": list(ids)})

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        if error is not None:
            self.emit({"e": "worker_down", "worker": node.gateway.id, "error": str(error)})

    def pytest_runtest_logstart(self, nodeid, location):
        # xdist's controller gets this hook as each worker starts a test.
        self.emit({"e": "begin", "id": nodeid})

    def pytest_runtest_logreport(self, report):
        nodeid = report.nodeid
        if _is_subtest(report):
            self._subtest(report)
            return
        when = report.when
        if when not in ("setup", "call", "teardown"):
            # xdist's report for a test its worker died running (`when = "???"`).
            self.tests.pop(nodeid, None)
            self.emit(
                {
                    "e": "test",
                    "id": nodeid,
                    "outcome": "failed",
                    "crashed": True,
                    "dur": 0.0,
                    "worker": _worker(report) or self.label,
                    "msg": _one_line(report),
                    "text": report.longreprtext,
                }
            )
            return
        test = self.tests.get(nodeid)
        if test is None:
            test = self.tests[nodeid] = {
                "e": "test",
                "id": nodeid,
                "outcome": None,
                "dur": 0.0,
                "start": getattr(report, "start", None),
            }
        outcome = report.outcome
        if outcome not in ("passed", "failed", "skipped"):
            # pytest-rerunfailures' "rerun": this attempt does not count,
            # but the names its dependency record numbered for the first
            # time do (later records of its process use the numbers).
            self.tests.pop(nodeid, None)
            deps = getattr(report, "xtask_deps", None)
            if deps and (deps.get("k") or deps.get("p")):
                self.emit(
                    {
                        "e": "deps_names",
                        "worker": _worker(report) or self.label,
                        "pid": deps.get("pid"),
                        "k": deps.get("k", []),
                        "p": deps.get("p", []),
                    }
                )
            return
        test["dur"] += report.duration or 0.0
        test["stop"] = getattr(report, "stop", None)
        xfail = hasattr(report, "wasxfail")
        if when == "setup":
            if outcome == "failed":
                test["outcome"] = "error"
                test["msg"] = _one_line(report)
                test["text"] = _full_text(report)
            elif outcome == "skipped":
                test["outcome"] = "xfailed" if xfail else "skipped"
                test["msg"] = _one_line(report)
        elif when == "call":
            if outcome == "passed":
                test["outcome"] = "xpassed" if xfail else "passed"
            elif outcome == "failed":
                test["outcome"] = "failed"
                test["msg"] = _one_line(report)
                test["text"] = _full_text(report)
            else:
                test["outcome"] = "xfailed" if xfail else "skipped"
                test["msg"] = _one_line(report)
        else:
            if outcome == "failed":
                if test["outcome"] in ("failed", "error"):
                    test["text"] = "%s\n---- teardown ----\n%s" % (
                        test.get("text") or "",
                        _full_text(report),
                    )
                else:
                    test["outcome"] = "error"
                    test["msg"] = _one_line(report)
                    test["text"] = _full_text(report)
            self._finish(nodeid, test, report)

    def _subtest(self, report):
        test = self.tests.get(report.nodeid)
        if test is not None:
            counts = test.setdefault("sub", {})
            key = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            counts[key] = counts.get(key, 0) + 1
        if report.passed:
            return
        self.emit(
            {
                "e": "subtest",
                "id": report.nodeid,
                "desc": _subtest_description(report),
                "outcome": "xfailed" if hasattr(report, "wasxfail") else report.outcome,
                "dur": report.duration or 0.0,
                "msg": _one_line(report),
                "text": _full_text(report) if report.failed else None,
            }
        )

    def _finish(self, nodeid, test, report):
        del self.tests[nodeid]
        if test["outcome"] is None:
            test["outcome"] = "passed"
        failed_subtests = test.get("sub", {}).get("failed", 0)
        if failed_subtests and test["outcome"] in ("passed", "xpassed"):
            # A test whose subtests failed has failed, whatever its own call did.
            test["outcome"] = "failed"
            test["msg"] = "%d subtest(s) failed" % failed_subtests
        worker = _worker(report) or self.label
        if worker is not None:
            test["worker"] = worker
        # What the test depended on (``xtask_deps``, when the run records it).
        test["deps"] = getattr(report, "xtask_deps", None)
        for key in [key for key, value in test.items() if value is None]:
            del test[key]
        self.emit(test)

    @pytest.hookimpl(tryfirst=True)
    def pytest_internalerror(self, excrepr, excinfo):
        self.emit({"e": "internal_error", "text": str(excrepr)})

    def pytest_sessionfinish(self, session, exitstatus):
        self.emit({"e": "finish", "exit": int(exitstatus), "time": time.time()})

    def pytest_unconfigure(self, config):
        self.file.close()
