"""Embedded SQLite store: schema, connections, counts and the integrity check.

One store file holds one pipeline run's output. The schema is created on first
open; every write is an upsert, so loading the same input twice is a no-op.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = "3"
TABLES: tuple[str, ...] = ("agencies", "companies", "awards", "transactions", "company_agencies")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agencies (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    department TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS companies (
    id        INTEGER PRIMARY KEY,
    name_key  TEXT NOT NULL UNIQUE,
    name      TEXT NOT NULL,
    uei       TEXT NOT NULL DEFAULT '',
    duns      TEXT NOT NULL DEFAULT '',
    city      TEXT NOT NULL DEFAULT '',
    state     TEXT NOT NULL DEFAULT '',
    zip       TEXT NOT NULL DEFAULT '',
    employees INTEGER
);
CREATE TABLE IF NOT EXISTS awards (
    id                    INTEGER PRIMARY KEY,
    award_key             TEXT NOT NULL UNIQUE,
    company_id            INTEGER NOT NULL REFERENCES companies(id),
    agency_code           TEXT NOT NULL REFERENCES agencies(code),
    phase                 TEXT NOT NULL CHECK (phase IN ('I', 'II', 'III')),
    program               TEXT NOT NULL,
    title                 TEXT NOT NULL DEFAULT '',
    branch                TEXT NOT NULL DEFAULT '',
    contract              TEXT NOT NULL DEFAULT '',
    tracking_number       TEXT NOT NULL DEFAULT '',
    solicitation          TEXT NOT NULL DEFAULT '',
    amount_cents          INTEGER NOT NULL,
    award_date            TEXT,
    award_year            INTEGER NOT NULL,
    total_obligated_cents INTEGER,
    transactions          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS awards_contract ON awards(contract);
CREATE INDEX IF NOT EXISTS awards_company ON awards(company_id);
CREATE TABLE IF NOT EXISTS transactions (
    transaction_id  TEXT PRIMARY KEY,
    contract        TEXT NOT NULL,
    action_date     TEXT NOT NULL,
    obligated_cents INTEGER NOT NULL,
    agency_code     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS transactions_contract ON transactions(contract);
CREATE TABLE IF NOT EXISTS company_agencies (
    company_id  INTEGER NOT NULL REFERENCES companies(id),
    agency_code TEXT NOT NULL REFERENCES agencies(code),
    awards      INTEGER NOT NULL,
    PRIMARY KEY (company_id, agency_code)
);
"""


class StoreError(Exception):
    """The store file is missing or is not a store of this schema version."""


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open a store (creating schema if ``create``) with foreign keys enforced."""
    target = Path(path)
    if not create and not target.is_file():
        raise StoreError(f"no such store: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA foreign_keys = ON")
    if create:
        with conn:
            conn.executescript(SCHEMA)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO NOTHING",
                (SCHEMA_VERSION,),
            )
    return conn


@contextmanager
def open_store(path: str | Path, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """Context manager around :func:`connect` that always closes the connection."""
    conn = connect(path, create=create)
    try:
        yield conn
    finally:
        conn.close()


def table_counts(path: str | Path) -> dict[str, int]:
    """Return the row count of every data table."""
    with open_store(path, create=False) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def get_meta(path: str | Path) -> dict[str, str]:
    """Return the ``meta`` key/value table."""
    with open_store(path, create=False) as conn:
        return dict(conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall())


_CONSISTENCY_QUERIES: tuple[tuple[str, str], ...] = (
    (
        "duplicate awards (contract, company, phase)",
        "SELECT COUNT(*) FROM (SELECT 1 FROM awards WHERE contract <> '' "
        "GROUP BY contract, company_id, phase HAVING COUNT(*) > 1)",
    ),
    ("awards with non-positive amount", "SELECT COUNT(*) FROM awards WHERE amount_cents <= 0"),
    (
        "awards whose transaction count disagrees with transactions",
        "SELECT COUNT(*) FROM awards a WHERE a.contract <> '' AND a.transactions <> "
        "(SELECT COUNT(*) FROM transactions t WHERE t.contract = a.contract)",
    ),
    (
        "awards whose obligated total disagrees with transactions",
        "SELECT COUNT(*) FROM awards a WHERE a.contract <> '' AND "
        "a.total_obligated_cents IS NOT (SELECT SUM(t.obligated_cents) FROM transactions t "
        "WHERE t.contract = a.contract)",
    ),
    ("companies without awards", "SELECT COUNT(*) FROM companies c WHERE NOT EXISTS "
     "(SELECT 1 FROM awards a WHERE a.company_id = c.id)"),
    (
        "company_agencies award counts disagree with awards",
        "SELECT COUNT(*) FROM company_agencies ca WHERE ca.awards <> (SELECT COUNT(*) FROM "
        "awards a WHERE a.company_id = ca.company_id AND a.agency_code = ca.agency_code)",
    ),
    (
        "awards missing from company_agencies",
        "SELECT COUNT(*) FROM (SELECT DISTINCT company_id, agency_code FROM awards) p "
        "WHERE NOT EXISTS (SELECT 1 FROM company_agencies ca WHERE "
        "ca.company_id = p.company_id AND ca.agency_code = p.agency_code)",
    ),
)


def integrity_check(store_path: str | Path) -> list[str]:
    """Return a list of problems found in the store (empty when it is sound)."""
    path = Path(store_path)
    if not path.is_file():
        return [f"store does not exist: {path}"]
    problems: list[str] = []
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:  # pragma: no cover - sqlite opens lazily
        return [f"cannot open store: {exc}"]
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            return [f"sqlite integrity_check: {line}" for line in result]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = [t for t in ("meta", *TABLES) if t not in tables]
        if missing:
            return [f"missing tables: {', '.join(missing)}"]
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None or version[0] != SCHEMA_VERSION:
            problems.append(f"schema version {version[0] if version else None!r}, "
                            f"expected {SCHEMA_VERSION!r}")
        for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check"):
            problems.append(f"foreign key violation: {table} row {rowid} -> {parent}")
        for label, query in _CONSISTENCY_QUERIES:
            count = conn.execute(query).fetchone()[0]
            if count:
                problems.append(f"{label}: {count}")
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        for table in ("awards", "companies", "agencies"):
            recorded = meta.get(f"count_{table}")
            actual = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if recorded is not None and int(recorded) != actual:
                problems.append(f"{table}: meta records {recorded} rows, table has {actual}")
    except sqlite3.DatabaseError as exc:
        problems.append(f"not a readable store: {exc}")
    finally:
        conn.close()
    return problems
