"""De-duplication of awards (same contract + company + phase, keep most complete)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from sbir_etl.extract import read_awards
from sbir_etl.models import Award, RawAward
from sbir_etl.synthetic import SyntheticDataset
from sbir_etl.transform import clean_award, dedupe_awards, transform_records

DATASET_ROWS = 20_000
DATASET_SEED = 202


def _raw(line: int, **overrides: object) -> RawAward:
    base = RawAward(
        line=line, company="Acme Photonics, Inc.", agency="DOD", phase="I", program="SBIR",
        amount=Decimal("150000"), award_date=date(2019, 6, 15), award_year=2019,
        title="Laser", contract="FA8650-19-C-1234", uei="JX7LKR4M2BN5", duns="123456789",
        employees=12, city="dayton", state="OH", zip_code="45433",
    )
    return replace(base, **overrides)


def test_clean_award_normalizes() -> None:
    award = clean_award(_raw(2, agency="Dept. of Defense", contract=" fa8650-19-c-1234 "))
    assert award.agency_code == "DOD"
    assert award.company_key == "ACME PHOTONICS"
    assert award.contract == "FA8650-19-C-1234"
    assert award.award_key == "C:FA8650-19-C-1234|ACME PHOTONICS|I"
    assert award.city == "Dayton" and award.source_line == 2


def test_completeness_counts_filled_fields() -> None:
    full = clean_award(_raw(2))
    sparse = clean_award(_raw(3, duns="", employees=None, zip_code=""))
    assert full.completeness() - sparse.completeness() == 3


def test_identical_rows_keep_first() -> None:
    result = dedupe_awards([clean_award(_raw(2)), clean_award(_raw(5))])
    assert [a.source_line for a in result.kept] == [2]
    assert [a.source_line for a in result.dropped] == [5]


def test_more_complete_duplicate_wins() -> None:
    sparse = clean_award(_raw(2, duns="", employees=None))
    full = clean_award(_raw(9))
    result = dedupe_awards([sparse, full])
    assert [a.source_line for a in result.kept] == [9]
    assert result.dropped == [sparse]


def test_less_complete_later_duplicate_is_dropped() -> None:
    result = dedupe_awards([clean_award(_raw(2)), clean_award(_raw(3, zip_code=""))])
    assert [a.source_line for a in result.kept] == [2]


@pytest.mark.parametrize(
    "overrides",
    [{"phase": "II"}, {"company": "Other Photonics Inc"}, {"contract": "FA8650-19-C-9999"}],
)
def test_different_key_is_not_a_duplicate(overrides: dict[str, object]) -> None:
    result = dedupe_awards([clean_award(_raw(2)), clean_award(_raw(3, **overrides))])
    assert len(result.kept) == 2 and not result.dropped


def test_company_spelling_variants_are_duplicates() -> None:
    a = clean_award(_raw(2, company="Acme Photonics, Inc."))
    b = clean_award(_raw(3, company="ACME PHOTONICS INCORPORATED"))
    assert len(dedupe_awards([a, b]).kept) == 1


def test_without_contract_tracking_number_is_the_key() -> None:
    a = clean_award(_raw(2, contract="", tracking_number="T-1"))
    b = clean_award(_raw(3, contract="", tracking_number="t-1"))
    c = clean_award(_raw(4, contract="", tracking_number="T-2"))
    assert [x.source_line for x in dedupe_awards([a, b, c]).kept] == [2, 4]


def test_kept_awards_are_in_file_order() -> None:
    awards = [clean_award(_raw(n, contract=f"C-{n}")) for n in (7, 3, 5)]
    assert [a.source_line for a in dedupe_awards(awards).kept] == [3, 5, 7]


def test_empty_input() -> None:
    result = dedupe_awards([])
    assert result.kept == [] and result.dropped == []


def test_generated_duplicates_are_found(module_dataset: SyntheticDataset) -> None:
    result = transform_records(read_awards(module_dataset.awards_path).records)
    assert len(result.dropped) == module_dataset.duplicates
    assert len(result.kept) == module_dataset.unique


def test_generated_keys_unique_after_dedupe(module_dataset: SyntheticDataset) -> None:
    kept: list[Award] = transform_records(read_awards(module_dataset.awards_path).records).kept
    assert len({a.award_key for a in kept}) == len(kept)
    assert len({a.company_key for a in kept}) == module_dataset.companies


def test_dedupe_is_order_insensitive_in_what_it_keeps(module_dataset: SyntheticDataset) -> None:
    awards = [clean_award(r) for r in read_awards(module_dataset.awards_path).records]
    forward = {a.award_key: a.completeness() for a in dedupe_awards(awards).kept}
    backward = {a.award_key: a.completeness() for a in dedupe_awards(awards[::-1]).kept}
    assert forward == backward
