"""Joining awards with the agency reference and contract transactions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from sbir_etl.agencies import UnknownAgencyError, known_codes, normalize_agency
from sbir_etl.enrich import (
    EnrichError,
    enrich_awards,
    read_agency_reference,
    read_transactions,
    register_reference,
    summarize_transactions,
)
from sbir_etl.extract import read_awards
from sbir_etl.models import AgencyRef, Award, EnrichedAward, Transaction
from sbir_etl.synthetic import SyntheticDataset
from sbir_etl.transform import transform_records

DATASET_ROWS = 15_000
DATASET_SEED = 303


def _award(contract: str, agency: str = "DOD", amount: str = "100000", key: str = "") -> Award:
    return Award(
        award_key=key or f"C:{contract}|ACME|I", company_key="ACME", company_name="Acme",
        agency_code=agency, phase="I", program="SBIR", amount=Decimal(amount),
        award_date=date(2020, 1, 1), award_year=2020, contract=contract,
    )


def _tx(tx_id: str, contract: str, amount: str, day: int = 1) -> Transaction:
    return Transaction(tx_id, contract, date(2020, 1, day), Decimal(amount), "DOD")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_agency_reference(tmp_path: Path) -> None:
    path = _write(tmp_path / "agencies.csv",
                  "code,name,department,aliases\n"
                  "dod,Department of Defense,Cabinet,Defense Department; War Department\n"
                  "SBA,Small Business Administration,,\n")
    refs = read_agency_reference(path)
    assert list(refs) == ["DOD", "SBA"]
    assert refs["DOD"].aliases == ("Defense Department", "War Department")
    assert refs["SBA"] == AgencyRef("SBA", "Small Business Administration", "", ())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,name\nDOD,Defense\nDOD,Defense again\n", "duplicate agency code"),
        ("code,name\n,Nameless\n", "required"),
        ("code\nDOD\n", "missing columns name"),
    ],
)
def test_bad_agency_reference(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(EnrichError, match=message):
        read_agency_reference(_write(tmp_path / "agencies.csv", text))


def test_missing_reference_file(tmp_path: Path) -> None:
    with pytest.raises(EnrichError, match="no such file"):
        read_agency_reference(tmp_path / "nope.csv")


def test_register_reference_extends_registry() -> None:
    refs = [AgencyRef("DOD", "Department of Defense", aliases=("War Department",)),
            AgencyRef("SBA", "Small Business Administration", aliases=("SBA Office",))]
    assert register_reference(refs) == 2
    assert normalize_agency("war department") == "DOD"
    assert normalize_agency("SBA Office") == "SBA"
    assert "SBA" in known_codes()


def test_registry_is_restored_after_previous_test() -> None:
    assert "SBA" not in known_codes()
    with pytest.raises(UnknownAgencyError):
        normalize_agency("War Department")


def test_read_transactions_with_rejects(tmp_path: Path) -> None:
    path = _write(tmp_path / "tx.csv",
                  "transaction_id,contract,action_date,obligated_amount,agency_code\n"
                  "T1,c-1,2020-01-05,1000.00,dod\n"
                  "T2,C-1,2020-03-01,-250.00,DOD\n"
                  "T2,C-1,2020-03-02,5.00,DOD\n"
                  "T3,,2020-03-01,5.00,DOD\n"
                  "T4,C-2,yesterday,5.00,DOD\n"
                  "T5,C-2,2020-04-01,lots,DOD\n")
    result = read_transactions(path)
    assert [t.transaction_id for t in result.transactions] == ["T1", "T2"]
    assert result.transactions[0].contract == "C-1" and result.transactions[0].agency_code == "DOD"
    assert [r.line for r in result.rejects] == [4, 5, 6, 7]
    assert "duplicate" in result.rejects[0].reason


def test_summarize_transactions() -> None:
    summaries = summarize_transactions(
        [_tx("1", "A", "100", 9), _tx("2", "A", "-30", 2), _tx("3", "B", "5", 4)]
    )
    a = summaries["A"]
    assert (a.total_obligated, a.transactions) == (Decimal("70"), 2)
    assert (a.first_action, a.last_action) == (date(2020, 1, 2), date(2020, 1, 9))
    assert summaries["B"].transactions == 1


def test_enrich_attaches_names_and_totals() -> None:
    awards = [_award("A"), _award("B", agency="NSF"), _award("", key="T:x|ACME|I")]
    result = enrich_awards(
        awards,
        agencies={"DOD": AgencyRef("DOD", "Defense (reference)")},
        summaries=summarize_transactions([_tx("1", "A", "60000"), _tx("2", "Z", "1")]),
    )
    by_contract = {e.award.contract: e for e in result.awards}
    assert by_contract["A"].agency_name == "Defense (reference)"
    assert by_contract["A"].total_obligated == Decimal("60000")
    assert by_contract["B"].agency_name == "National Science Foundation"
    assert by_contract["B"].total_obligated is None
    assert result.unmatched_awards == 1
    assert result.orphan_contracts == ["Z"]
    assert [a.code for a in result.agencies] == ["DOD", "NSF"]
    assert result.total_obligated == Decimal("60000")


def test_enrich_without_reference_data() -> None:
    result = enrich_awards([_award("A")])
    assert result.awards[0].agency_name == "Department of Defense"
    assert result.unmatched_awards == 1 and result.orphan_contracts == []


@pytest.mark.parametrize(
    ("obligated", "ratio"), [(Decimal("50000"), 0.5), (None, None), (Decimal("0"), 0.0)]
)
def test_obligation_ratio(obligated: Decimal | None, ratio: float | None) -> None:
    assert EnrichedAward(_award("A"), "x", obligated).obligation_ratio == ratio


def test_enrich_generated_dataset(module_dataset: SyntheticDataset) -> None:
    refs = read_agency_reference(module_dataset.agencies_path)
    register_reference(refs.values())
    kept = transform_records(read_awards(module_dataset.awards_path).records).kept
    tx = read_transactions(module_dataset.transactions_path)
    assert len(tx.transactions) == module_dataset.transactions
    assert len(tx.rejects) == module_dataset.bad_transactions
    result = enrich_awards(kept, agencies=refs, summaries=summarize_transactions(tx.transactions))
    assert len(result.awards) == module_dataset.unique
    assert len(result.orphan_contracts) == module_dataset.orphan_contracts
    matched = sum(1 for a in result.awards if a.total_obligated is not None)
    assert matched + result.unmatched_awards == module_dataset.unique
    assert 0.7 < matched / module_dataset.unique < 0.9


def test_generated_transactions_total(module_dataset: SyntheticDataset) -> None:
    tx = read_transactions(module_dataset.transactions_path).transactions
    summaries = summarize_transactions(tx)
    assert sum(s.transactions for s in summaries.values()) == len(tx)
    assert sum(s.total_obligated for s in summaries.values()) == sum(t.obligated for t in tx)
