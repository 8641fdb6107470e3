"""Plain ``pytest`` honours ``PYTEST_WORKERS`` the way ``cargo xtask`` does.

``cargo xtask setup`` installs this module into the environment it manages,
with a ``pytest11`` entry point, so every pytest run there loads it; nothing
in the project changes. It acts only when ``PYTEST_WORKERS`` is set and the
command line itself has no ``-n``/``--numprocesses`` (``cargo xtask`` always
gives one, so its own runs are left alone):

- empty: unset, pytest's own configuration decides;
- ``1``: serial;
- ``auto``: one worker per usable CPU (the CPU affinity mask and the cgroup
  CPU quota, whichever is smaller);
- ``2`` to ``512``: exactly that many xdist workers, distributed as
  ``parallel.dist`` in testing.toml says (``loadscope`` when it says nothing).

Anything else is a usage error (exit 4) that says what is allowed. Without
pytest-xdist (not installed, or ``-p no:xdist``) the run stays serial. The
variable is removed once taken up, so a pytest the tests start themselves
runs as it would without it.
"""

import math
import os

import pytest

MAX_WORKERS = 512
VAR = "PYTEST_WORKERS"


def _cgroup_cpus():
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            try:
                with open("/sys/fs/cgroup%s/cpu.max" % path.rstrip("/"), encoding="utf-8") as f:
                    quota, period = f.read().split()
            except (OSError, ValueError):
                continue
            if quota != "max" and int(period) > 0:
                return max(1, math.ceil(int(quota) / int(period)))
        elif "cpu" in controllers.split(","):
            base = "/sys/fs/cgroup/%s%s" % (controllers, path.rstrip("/"))
            try:
                with open(base + "/cpu.cfs_quota_us", encoding="utf-8") as f:
                    quota = int(f.read())
                with open(base + "/cpu.cfs_period_us", encoding="utf-8") as f:
                    period = int(f.read())
            except (OSError, ValueError):
                continue
            if quota > 0 and period > 0:
                return max(1, math.ceil(quota / period))
    return None


def usable_cpus():
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, min(cpus, quota) if quota else cpus)


def parse(value):
    """The worker count ``value`` asks for, ``None`` for unset."""
    value = value.strip()
    if not value:
        return None
    if value.lower() == "auto":
        return usable_cpus()
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_WORKERS:
        raise pytest.UsageError(
            "%s=`%s` is not a valid worker count: expected `auto` or a whole number from 1 to %d; "
            "use %s=1 for serial, %s=auto for one worker per usable CPU; an empty value means the default"
            % (VAR, value, MAX_WORKERS, VAR, VAR)
        )
    return n


def _configured_dist(rootpath):
    try:
        import tomllib
    except ImportError:  # Python before 3.11
        return None
    try:
        with open(os.path.join(str(rootpath), "testing.toml"), "rb") as f:
            dist = tomllib.load(f).get("parallel", {}).get("dist")
    except (OSError, ValueError):
        return None
    return dist if isinstance(dist, str) else None


def _numprocesses_given(args):
    return any(
        arg == "-n" or arg.startswith("--numprocesses") or (arg.startswith("-n") and arg[2:3].isalnum())
        for arg in args
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_cmdline_main(config):
    # A wrapper runs before every other implementation, xdist's included,
    # which turns the worker count into its list of workers.
    value = os.environ.get(VAR)
    if value is not None and not _numprocesses_given(config.invocation_params.args):
        n = parse(value)
        # Taken up once: a pytest the tests start themselves runs as it would.
        os.environ.pop(VAR, None)
        # Without xdist (not installed, or `-p no:xdist`) the run is serial.
        if n is not None and config.pluginmanager.hasplugin("xdist"):
            if n == 1:
                config.option.numprocesses = 0
                config.option.dist = "no"
            else:
                config.option.numprocesses = n
                if getattr(config.option, "dist", "no") == "no":
                    config.option.dist = _configured_dist(config.rootpath) or "loadscope"
    yield
