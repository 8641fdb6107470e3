"""Reading and validating the awards CSV."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from sbir_etl.extract import (
    ExtractError,
    ExtractResult,
    check_header,
    iter_rows,
    read_awards,
    validate_row,
    write_rejects,
)
from sbir_etl.models import RawAward, Reject
from sbir_etl.settings import Settings, reset_settings
from sbir_etl.synthetic import SyntheticDataset

DATASET_ROWS = 26_000
DATASET_SEED = 101

WriteCsv = Callable[..., Path]

REJECT_CASES = [
    ({"Company": ""}, "missing company"),
    ({"Agency": ""}, "missing agency"),
    ({"Agency": "Department of Magic"}, "unknown agency"),
    ({"Phase": "Phase IV"}, "bad phase"),
    ({"Program": "SBIRX"}, "bad program"),
    ({"Award Amount": ""}, "missing amount"),
    ({"Award Amount": "about a million"}, "bad amount"),
    ({"Award Amount": "$0.00"}, "non-positive amount"),
    ({"Award Amount": "(1,000.00)"}, "non-positive amount"),
    ({"Proposal Award Date": "2019-02-30"}, "bad date"),
    ({"Proposal Award Date": "", "Award Year": ""}, "missing date"),
    ({"Award Year": "MMXIX"}, "bad award year"),
    ({"Award Year": "1975"}, "award year out of range"),
    ({"UEI": "12AB"}, "bad UEI"),
    ({"UEI": "0JX7LKR4M2BN"}, "bad UEI"),
    ({"Duns": "12-345-678X"}, "bad DUNS"),
    ({"State": "Atlantis"}, "bad state"),
    ({"Zip": "ABCDE"}, "bad zip"),
    ({"Number Employees": "-3"}, "bad employee count"),
    ({"Number Employees": "a dozen"}, "bad employee count"),
]


@pytest.fixture
def check(valid_row: dict[str, str]) -> Callable[..., RawAward | Reject]:
    """Validate ``valid_row`` with some columns overridden."""
    return lambda **overrides: validate_row({**valid_row, **overrides}, 2, Settings())


def test_valid_row_is_typed(check: Callable[..., RawAward | Reject]) -> None:
    record = check()
    assert isinstance(record, RawAward)
    assert record.amount == Decimal("149985.00")
    assert record.award_date == date(2019, 6, 15)
    assert (record.phase, record.program, record.award_year) == ("I", "SBIR", 2019)
    assert (record.duns, record.employees, record.state) == ("123456789", 12, "OH")


@pytest.mark.parametrize(("overrides", "reason"), REJECT_CASES)
def test_reject_reasons(
    valid_row: dict[str, str], overrides: dict[str, str], reason: str
) -> None:
    outcome = validate_row({**valid_row, **overrides}, 7, Settings())
    assert isinstance(outcome, Reject)
    assert (outcome.line, outcome.reason) == (7, reason)


def test_reject_names_column_and_value(check: Callable[..., RawAward | Reject]) -> None:
    outcome = check(**{"Award Amount": "N/A"})
    assert isinstance(outcome, Reject)
    assert (outcome.column, outcome.value) == ("Award Amount", "N/A")


def test_award_year_defaults_to_date_year(check: Callable[..., RawAward | Reject]) -> None:
    record = check(**{"Award Year": "", "Proposal Award Date": "03/04/2011"})
    assert isinstance(record, RawAward)
    assert record.award_year == 2011


def test_award_date_column_alias(valid_row: dict[str, str]) -> None:
    row = {k: v for k, v in valid_row.items() if k != "Proposal Award Date"}
    record = validate_row({**row, "Award Date": "July 4, 2020"}, 2, Settings())
    assert isinstance(record, RawAward)
    assert record.award_date == date(2020, 7, 4)


def test_year_only_row_has_no_date(check: Callable[..., RawAward | Reject]) -> None:
    record = check(**{"Proposal Award Date": ""})
    assert isinstance(record, RawAward)
    assert record.award_date is None and record.award_year == 2019


@pytest.mark.parametrize(("column", "reason"), [("UEI", "missing UEI"),
                                                ("Contract", "missing contract")])
def test_strict_mode_requires_identifiers(
    valid_row: dict[str, str], column: str, reason: str
) -> None:
    row = {**valid_row, column: ""}
    assert isinstance(validate_row(row, 2, Settings()), RawAward)
    outcome = validate_row(row, 2, Settings(strict=True))
    assert isinstance(outcome, Reject)
    assert outcome.reason == reason


def test_strict_mode_from_environment(
    monkeypatch: pytest.MonkeyPatch, write_awards_csv: WriteCsv
) -> None:
    path = write_awards_csv({}, {"UEI": ""})
    assert len(read_awards(path).records) == 2
    monkeypatch.setenv("SBIR_ETL_STRICT", "true")
    reset_settings()
    result = read_awards(path)
    assert [r.reason for r in result.rejects] == ["missing UEI"]


def test_strict_argument_overrides_environment(
    monkeypatch: pytest.MonkeyPatch, write_awards_csv: WriteCsv
) -> None:
    monkeypatch.setenv("SBIR_ETL_STRICT", "1")
    path = write_awards_csv({"UEI": ""})
    assert len(read_awards(path, strict=False).records) == 1
    assert len(read_awards(path, strict=True).rejects) == 1


def test_custom_date_format_from_environment(
    monkeypatch: pytest.MonkeyPatch, write_awards_csv: WriteCsv
) -> None:
    path = write_awards_csv({"Proposal Award Date": "15.06.2019"})
    assert read_awards(path).rejects[0].reason == "bad date"
    monkeypatch.setenv("SBIR_ETL_DATE_FORMATS", "%d.%m.%Y")
    reset_settings()
    assert read_awards(path).records[0].award_date == date(2019, 6, 15)


def test_min_award_year_from_environment(
    monkeypatch: pytest.MonkeyPatch, write_awards_csv: WriteCsv
) -> None:
    monkeypatch.setenv("SBIR_ETL_MIN_AWARD_YEAR", "2020")
    reset_settings()
    path = write_awards_csv({})
    assert read_awards(path).reject_reasons() == {"award year out of range": 1}


def test_line_numbers_follow_the_file(write_awards_csv: WriteCsv) -> None:
    path = write_awards_csv({}, {"Company": ""}, {}, {"Phase": "9"})
    result = read_awards(path)
    assert result.rows_read == 4
    assert [(r.line, r.reason) for r in result.rejects] == [(3, "missing company"), (5, "bad phase")]
    assert [r.line for r in result.records] == [2, 4]


def test_values_and_headers_are_stripped(tmp_path: Path) -> None:
    path = tmp_path / "padded.csv"
    path.write_text(
        " Company , Agency ,Phase,Award Amount,Award Year\n"
        "  Widget Works LLC  , NSF ,  II , 750000 , 2021 \n",
        encoding="utf-8",
    )
    [record] = read_awards(path).records
    assert (record.company, record.agency, record.phase) == ("Widget Works LLC", "NSF", "II")


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("Company,Agency,Phase,Award Amount,Award Year\nA Co,NSF,I,1000,2020\n",
                    encoding="utf-8-sig")
    assert len(read_awards(path).records) == 1


def test_row_with_extra_fields_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text("Company,Agency,Phase,Award Amount,Award Year\nA,NSF,I,1000,2020,oops\n")
    assert read_awards(path).reject_reasons() == {"malformed row": 1}


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="no such input file"):
        list(iter_rows(tmp_path / "absent.csv"))


def test_empty_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ExtractError, match="no header"):
        read_awards(path)


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        (["Company", "Agency", "Phase", "Award Year"], "Award Amount"),
        (["Company", "Phase", "Award Amount", "Award Year"], "Agency"),
        (["Company", "Agency", "Phase", "Award Amount"], "Award Year"),
    ],
)
def test_check_header_names_missing_columns(header: list[str], missing: str) -> None:
    with pytest.raises(ExtractError, match=missing):
        check_header(header)


def test_header_only_file_reads_nothing(write_awards_csv: WriteCsv) -> None:
    result = read_awards(write_awards_csv())
    assert (result.rows_read, result.records, result.rejects) == (0, [], [])


def test_write_rejects_round_trip(tmp_path: Path) -> None:
    rejects = [Reject(3, "bad amount", "Award Amount", "N/A"), Reject(9, "bad UEI", "UEI", "x")]
    path = write_rejects(rejects, tmp_path / "out" / "rejects.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["line"], r["reason"]) for r in rows] == [("3", "bad amount"), ("9", "bad UEI")]


def test_reject_reasons_most_common_first() -> None:
    result = ExtractResult(rejects=[Reject(1, "b", "", ""), Reject(2, "a", "", ""),
                                    Reject(3, "a", "", "")])
    assert list(result.reject_reasons().items()) == [("a", 2), ("b", 1)]


# --- the generated dataset (built once for this module) ---------------------------------


def test_generated_dataset_counts(module_dataset: SyntheticDataset) -> None:
    result = read_awards(module_dataset.awards_path)
    assert result.rows_read == DATASET_ROWS
    assert len(result.rejects) == module_dataset.dirty
    assert len(result.records) == module_dataset.unique + module_dataset.duplicates


def test_generated_dataset_reasons_match_manifest(module_dataset: SyntheticDataset) -> None:
    result = read_awards(module_dataset.awards_path)
    assert dict(sorted(result.reject_reasons().items())) == module_dataset.dirty_reasons


def test_generated_dataset_strict_mode_accepts_complete_rows(
    module_dataset: SyntheticDataset,
) -> None:
    result = read_awards(module_dataset.awards_path, strict=True)
    assert len(result.rejects) == module_dataset.dirty


def test_generated_dataset_amounts_positive_and_dated(module_dataset: SyntheticDataset) -> None:
    records = read_awards(module_dataset.awards_path).records
    assert all(r.amount > 0 for r in records)
    assert all(r.award_date is not None and r.award_date.year == r.award_year for r in records)
    assert {r.phase for r in records} == {"I", "II", "III"}
