"""``integrity_check``: each kind of damage is detected and named."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from sbir_etl.pipeline import run_pipeline
from sbir_etl.store import connect, integrity_check
from sbir_etl.synthetic import SyntheticDataset


@pytest.fixture
def loaded_store(small_dataset: SyntheticDataset, store_path: Path) -> Path:
    """A sound store loaded from the small dataset."""
    run_pipeline(small_dataset.awards_path, store_path,
                 transactions_path=small_dataset.transactions_path,
                 agencies_path=small_dataset.agencies_path)
    return store_path


def _damage(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)  # foreign keys OFF: damage is allowed through
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def test_sound_store_has_no_problems(loaded_store: Path) -> None:
    assert integrity_check(loaded_store) == []


def test_missing_store(tmp_path: Path) -> None:
    assert integrity_check(tmp_path / "none.sqlite") == [
        f"store does not exist: {tmp_path / 'none.sqlite'}"]


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    [problem] = integrity_check(path)
    assert "not a readable store" in problem


def test_empty_database_lacks_tables(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    path.write_bytes(b"")
    assert integrity_check(path)[0].startswith("missing tables")


def test_fresh_store_is_sound(store_path: Path) -> None:
    connect(store_path).close()
    assert integrity_check(store_path) == []


DAMAGE: list[tuple[str, tuple[str, ...], str]] = [
    ("fk", ("UPDATE awards SET company_id = 999999 WHERE id = 1",), "foreign key violation"),
    ("agency-fk", ("UPDATE awards SET agency_code = 'ZZZ' WHERE id = 1",),
     "foreign key violation"),
    ("duplicate", (
        "INSERT INTO awards(award_key, company_id, agency_code, phase, program, contract, "
        "amount_cents, award_year, transactions, total_obligated_cents) "
        "SELECT award_key || '-copy', company_id, agency_code, phase, program, contract, "
        "amount_cents, award_year, transactions, total_obligated_cents FROM awards WHERE id = 1",
    ), "duplicate awards"),
    ("amount", ("UPDATE awards SET amount_cents = 0 WHERE id = 2",), "non-positive amount"),
    ("tx-count", ("UPDATE awards SET transactions = transactions + 1 WHERE id = 3",),
     "transaction count disagrees"),
    ("obligated", ("UPDATE awards SET total_obligated_cents = 1 WHERE id = 3",),
     "obligated total disagrees"),
    ("orphan-company", ("INSERT INTO companies(name_key, name) VALUES ('GHOST', 'Ghost')",),
     "companies without awards"),
    ("relation", ("UPDATE company_agencies SET awards = awards + 5",), "company_agencies"),
    ("relation-missing", ("DELETE FROM company_agencies",), "missing from company_agencies"),
    ("meta", ("UPDATE meta SET value = '1' WHERE key = 'count_awards'",), "meta records 1 rows"),
    ("version", ("UPDATE meta SET value = '0' WHERE key = 'schema_version'",), "schema version"),
]


@pytest.mark.parametrize(("statements", "expected"), [d[1:] for d in DAMAGE],
                         ids=[d[0] for d in DAMAGE])
def test_damage_is_reported(loaded_store: Path, statements: tuple[str, ...], expected: str) -> None:
    _damage(loaded_store, *statements)
    problems = integrity_check(loaded_store)
    assert any(expected in p for p in problems), problems


def test_missing_meta_table(loaded_store: Path) -> None:
    _damage(loaded_store, "DROP TABLE meta")
    assert integrity_check(loaded_store) == ["missing tables: meta"]


def test_check_does_not_modify_store(loaded_store: Path) -> None:
    before = loaded_store.read_bytes()
    integrity_check(loaded_store)
    assert loaded_store.read_bytes() == before


def test_check_accepts_str_path(loaded_store: Path) -> None:
    check: Callable[[str], list[str]] = integrity_check
    assert check(str(loaded_store)) == []
