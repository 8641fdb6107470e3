"""The SQLite store: schema, constraints and read helpers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sbir_etl.store import (
    SCHEMA_VERSION,
    TABLES,
    StoreError,
    connect,
    get_meta,
    open_store,
    table_counts,
)


def test_store_name_carries_worker_namespace(store_path: Path, worker_namespace: str) -> None:
    assert worker_namespace in store_path.name
    assert not store_path.exists()


def test_connect_creates_schema(store_path: Path) -> None:
    with open_store(store_path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", *TABLES} <= names


def test_schema_version_recorded(store_path: Path) -> None:
    with open_store(store_path):
        pass
    assert get_meta(store_path) == {"schema_version": SCHEMA_VERSION}


def test_connect_is_idempotent(store_path: Path) -> None:
    for _ in range(3):
        connect(store_path).close()
    assert table_counts(store_path) == dict.fromkeys(TABLES, 0)


def test_connect_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "2026" / "store.sqlite"
    connect(path).close()
    assert path.is_file()


def test_open_without_create_requires_file(store_path: Path) -> None:
    with pytest.raises(StoreError, match="no such store"):
        connect(store_path, create=False)
    with pytest.raises(StoreError):
        table_counts(store_path)


def test_open_store_closes_connection(store_path: Path) -> None:
    with open_store(store_path) as conn:
        pass
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def test_foreign_keys_enforced(store_path: Path) -> None:
    with open_store(store_path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO awards(award_key, company_id, agency_code, phase, program, "
            "amount_cents, award_year) VALUES ('k', 42, 'DOD', 'I', 'SBIR', 100, 2020)"
        )


def test_phase_constraint(store_path: Path) -> None:
    with open_store(store_path) as conn:
        conn.execute("INSERT INTO agencies(code, name) VALUES ('DOD', 'Defense')")
        conn.execute("INSERT INTO companies(name_key, name) VALUES ('ACME', 'Acme')")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(
                "INSERT INTO awards(award_key, company_id, agency_code, phase, program, "
                "amount_cents, award_year) VALUES ('k', 1, 'DOD', 'IV', 'SBIR', 100, 2020)"
            )


def test_unique_company_key(store_path: Path) -> None:
    with open_store(store_path) as conn:
        conn.execute("INSERT INTO companies(name_key, name) VALUES ('ACME', 'Acme')")
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute("INSERT INTO companies(name_key, name) VALUES ('ACME', 'ACME Inc')")


def test_two_stores_are_independent(tmp_path: Path, worker_namespace: str) -> None:
    first = tmp_path / f"a-{worker_namespace}.sqlite"
    second = tmp_path / f"b-{worker_namespace}.sqlite"
    with open_store(first) as conn, conn:
        conn.execute("INSERT INTO agencies(code, name) VALUES ('DOD', 'Defense')")
    connect(second).close()
    assert table_counts(first)["agencies"] == 1
    assert table_counts(second)["agencies"] == 0
