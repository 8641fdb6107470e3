"""Loading into the store: upserts, idempotency, company merging."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from sbir_etl.enrich import (
    enrich_awards,
    read_agency_reference,
    read_transactions,
    register_reference,
    summarize_transactions,
)
from sbir_etl.extract import read_awards
from sbir_etl.load import LoadResult, load_store, merge_companies, to_cents
from sbir_etl.models import AgencyRef, Award, EnrichedAward, Transaction
from sbir_etl.store import integrity_check, open_store, table_counts
from sbir_etl.synthetic import SyntheticDataset
from sbir_etl.transform import transform_records

DATASET_ROWS = 12_000
DATASET_SEED = 404

DOD = AgencyRef("DOD", "Department of Defense", "Cabinet")


def _award(contract: str, company: str = "ACME", **extra: object) -> EnrichedAward:
    fields: dict[str, object] = {
        "award_key": f"C:{contract}|{company}|I", "company_key": company,
        "company_name": company.title(), "agency_code": "DOD", "phase": "I", "program": "SBIR",
        "amount": Decimal("100000.00"), "award_date": date(2020, 5, 1), "award_year": 2020,
        "contract": contract, **extra,
    }
    return EnrichedAward(Award(**fields), "Department of Defense")  # type: ignore[arg-type]


def _prepare(dataset: SyntheticDataset) -> tuple[list[EnrichedAward], list[AgencyRef],
                                                 list[Transaction]]:
    refs = read_agency_reference(dataset.agencies_path)
    register_reference(refs.values())
    kept = transform_records(read_awards(dataset.awards_path).records).kept
    tx = read_transactions(dataset.transactions_path).transactions
    result = enrich_awards(kept, agencies=refs, summaries=summarize_transactions(tx))
    return result.awards, result.agencies, tx


@pytest.mark.parametrize(
    ("amount", "cents"),
    [(Decimal("1.00"), 100), (Decimal("1234.56"), 123456), (Decimal("-0.10"), -10), (None, None)],
)
def test_to_cents(amount: Decimal | None, cents: int | None) -> None:
    assert to_cents(amount) == cents


def test_merge_companies_fills_gaps() -> None:
    rows = merge_companies([
        _award("A", uei="", city="Dayton").award,
        _award("B", uei="JX7LKR4M2BN5", city="Boston", employees=5).award,
        _award("C", company="OTHER").award,
    ])
    assert [r.name_key for r in rows] == ["ACME", "OTHER"]
    assert (rows[0].uei, rows[0].city, rows[0].employees) == ("JX7LKR4M2BN5", "Dayton", 5)


def test_load_small_batch(store_path: Path) -> None:
    tx = [Transaction("T1", "A", date(2020, 6, 1), Decimal("400.00"))]
    result = load_store(store_path, [_award("A"), _award("B")], [DOD], tx)
    assert result.before == dict.fromkeys(result.before, 0)
    assert result.after == {"agencies": 1, "companies": 1, "awards": 2, "transactions": 1,
                            "company_agencies": 1}
    with open_store(store_path) as conn:
        rows = conn.execute("SELECT contract, total_obligated_cents, transactions FROM awards "
                            "ORDER BY contract").fetchall()
    assert rows == [("A", 40000, 1), ("B", None, 0)]


def test_reload_is_idempotent(store_path: Path) -> None:
    awards = [_award("A"), _award("B", company="OTHER")]
    load_store(store_path, awards, [DOD])
    second = load_store(store_path, awards, [DOD])
    assert second.inserted == dict.fromkeys(second.after, 0)
    assert integrity_check(store_path) == []


def test_upsert_updates_changed_award(store_path: Path) -> None:
    load_store(store_path, [_award("A")], [DOD])
    load_store(store_path, [_award("A", amount=Decimal("250000"), title="Revised")], [DOD])
    with open_store(store_path) as conn:
        assert conn.execute("SELECT amount_cents, title FROM awards").fetchall() == [
            (25_000_000, "Revised")]


def test_company_attributes_are_not_blanked_by_later_load(store_path: Path) -> None:
    load_store(store_path, [_award("A", uei="JX7LKR4M2BN5", state="OH")], [DOD])
    load_store(store_path, [_award("B", uei="", state="")], [DOD])
    with open_store(store_path) as conn:
        assert conn.execute("SELECT uei, state FROM companies").fetchall() == [
            ("JX7LKR4M2BN5", "OH")]


def test_agency_department_kept_when_update_has_none(store_path: Path) -> None:
    load_store(store_path, [_award("A")], [DOD])
    load_store(store_path, [_award("A")], [AgencyRef("DOD", "Defense", "")])
    with open_store(store_path) as conn:
        assert conn.execute("SELECT name, department FROM agencies").fetchall() == [
            ("Defense", "Cabinet")]


def test_transactions_loaded_later_update_totals(store_path: Path) -> None:
    load_store(store_path, [_award("A")], [DOD])
    tx = [Transaction("T1", "A", date(2020, 6, 1), Decimal("10")),
          Transaction("T2", "A", date(2020, 7, 1), Decimal("5.5"))]
    load_store(store_path, [], [], tx)
    with open_store(store_path) as conn:
        assert conn.execute("SELECT total_obligated_cents, transactions FROM awards").fetchone() \
            == (1550, 2)
    assert integrity_check(store_path) == []


def test_load_rolls_back_on_error(store_path: Path) -> None:
    bad = _award("A", agency_code="NOPE")
    with pytest.raises(sqlite3.IntegrityError):
        load_store(store_path, [_award("OK"), bad], [DOD])
    assert table_counts(store_path)["awards"] == 0


def test_inserted_property() -> None:
    result = LoadResult(before={"awards": 2}, after={"awards": 5, "companies": 1})
    assert result.inserted == {"awards": 3, "companies": 1}


def test_load_generated_dataset(module_dataset: SyntheticDataset, store_path: Path) -> None:
    awards, agencies, tx = _prepare(module_dataset)
    result = load_store(store_path, awards, agencies, tx)
    assert result.after["awards"] == module_dataset.unique
    assert result.after["companies"] == module_dataset.companies
    assert result.after["transactions"] == module_dataset.transactions
    assert integrity_check(store_path) == []


def test_generated_dataset_reload_is_idempotent(
    module_dataset: SyntheticDataset, store_path: Path
) -> None:
    awards, agencies, tx = _prepare(module_dataset)
    first = load_store(store_path, awards, agencies, tx)
    second = load_store(store_path, awards, agencies, tx)
    assert second.after == first.after
    assert integrity_check(store_path) == []


def test_generated_relation_covers_every_award(
    module_dataset: SyntheticDataset, store_path: Path
) -> None:
    awards, agencies, tx = _prepare(module_dataset)
    load_store(store_path, awards, agencies, tx)
    with open_store(store_path) as conn:
        total = conn.execute("SELECT SUM(awards) FROM company_agencies").fetchone()[0]
        obligated = conn.execute("SELECT SUM(total_obligated_cents) FROM awards").fetchone()[0]
    assert total == module_dataset.unique
    assert obligated == sum(
        round(a.total_obligated * 100) for a in awards if a.total_obligated is not None
    )
