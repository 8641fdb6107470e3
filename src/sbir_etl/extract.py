"""Read SBIR award records from the public awards CSV export and validate each row.

Rows that fail validation are not fatal: they are collected as
:class:`~sbir_etl.models.Reject` records with a reason, so a run can report
how much of its input it refused and why.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .agencies import UnknownAgencyError, normalize_agency
from .models import DATE_COLUMNS, REQUIRED_COLUMNS, RawAward, Reject
from .settings import Settings, get_settings
from .transform import (
    normalize_duns,
    normalize_phase,
    normalize_program,
    normalize_state,
    normalize_uei,
    normalize_zip,
    parse_amount,
    parse_date,
)

T = TypeVar("T")


class ExtractError(Exception):
    """The input cannot be read at all (missing file, wrong header)."""


class RowError(ValueError):
    """A single row failed validation; carries the offending column and value."""

    def __init__(self, reason: str, column: str, value: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column
        self.value = value


@dataclass(slots=True)
class ExtractResult:
    """Validated records, rejected rows and the number of data rows read."""

    records: list[RawAward] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0

    def reject_reasons(self) -> dict[str, int]:
        """Count rejects per reason, most frequent first."""
        return dict(Counter(reject.reason for reject in self.rejects).most_common())


def check_header(fieldnames: list[str] | None) -> None:
    """Raise :class:`ExtractError` unless the header has the columns the pipeline needs."""
    if not fieldnames:
        raise ExtractError("input has no header row")
    present = {name.strip() for name in fieldnames}
    missing = [column for column in REQUIRED_COLUMNS if column not in present]
    if not any(column in present for column in (*DATE_COLUMNS, "Award Year")):
        missing.append(" or ".join((*DATE_COLUMNS, "Award Year")))
    if missing:
        raise ExtractError(f"missing required columns: {', '.join(missing)}")


def iter_rows(path: str | Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` pairs with stripped column names and values."""
    source = Path(path)
    if not source.is_file():
        raise ExtractError(f"no such input file: {source}")
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        check_header(reader.fieldnames)
        for row in reader:
            if None in row:
                yield reader.line_num, {"__malformed__": "extra fields"}
                continue
            yield reader.line_num, {
                key.strip(): (value or "").strip() for key, value in row.items()
            }


def _field(row: Mapping[str, str], *names: str) -> tuple[str, str]:
    """Return the first non-empty ``(column, value)`` among ``names``."""
    for name in names:
        value = row.get(name, "")
        if value:
            return name, value
    return names[0], ""


def _check(column: str, value: str, reason: str, parse: Callable[[str], T]) -> T:
    """Apply ``parse`` to ``value``, turning ``ValueError`` into :class:`RowError`."""
    try:
        return parse(value)
    except ValueError:
        raise RowError(reason, column, value) from None


def _parse_employees(value: str) -> int | None:
    """Parse the employee count (``""`` means unknown)."""
    if not value:
        return None
    count = int(value.replace(",", ""))
    if count < 0:
        raise ValueError("negative employee count")
    return count


def parse_row(row: Mapping[str, str], line: int, settings: Settings) -> RawAward:
    """Validate one row and return it typed; raise :class:`RowError` on the first problem."""
    if "__malformed__" in row:
        raise RowError("malformed row", "*", row["__malformed__"])
    company = row.get("Company", "")
    if not company:
        raise RowError("missing company", "Company", company)
    agency = row.get("Agency", "")
    if not agency:
        raise RowError("missing agency", "Agency", agency)
    try:
        normalize_agency(agency)
    except UnknownAgencyError:
        raise RowError("unknown agency", "Agency", agency) from None
    phase = _check("Phase", row.get("Phase", ""), "bad phase", normalize_phase)
    program = _check("Program", row.get("Program", ""), "bad program", normalize_program)
    raw_amount = row.get("Award Amount", "")
    if not raw_amount:
        raise RowError("missing amount", "Award Amount", raw_amount)
    amount = _check("Award Amount", raw_amount, "bad amount", parse_amount)
    if amount <= 0:
        raise RowError("non-positive amount", "Award Amount", raw_amount)
    date_column, raw_date = _field(row, *DATE_COLUMNS)
    award_date = None
    if raw_date:
        award_date = _check(
            date_column, raw_date, "bad date", lambda v: parse_date(v, settings.date_formats)
        )
    raw_year = row.get("Award Year", "")
    if raw_year:
        year = _check("Award Year", raw_year, "bad award year", int)
    elif award_date is not None:
        year = award_date.year
    else:
        raise RowError("missing date", date_column, "")
    if year < settings.min_award_year:
        raise RowError("award year out of range", "Award Year", str(year))
    uei = _check("UEI", row.get("UEI", ""), "bad UEI", normalize_uei)
    if settings.strict and not uei:
        raise RowError("missing UEI", "UEI", "")
    contract = row.get("Contract", "")
    if settings.strict and not contract:
        raise RowError("missing contract", "Contract", "")
    return RawAward(
        line=line,
        company=company,
        agency=agency,
        phase=phase,
        program=program,
        amount=amount,
        award_date=award_date,
        award_year=year,
        title=row.get("Award Title", ""),
        branch=row.get("Branch", ""),
        contract=contract,
        tracking_number=row.get("Agency Tracking Number", ""),
        solicitation=row.get("Solicitation Number", ""),
        topic_code=row.get("Topic Code", ""),
        uei=uei,
        duns=_check("Duns", row.get("Duns", ""), "bad DUNS", normalize_duns),
        employees=_check(
            "Number Employees", row.get("Number Employees", ""), "bad employee count",
            _parse_employees,
        ),
        website=row.get("Company Website", ""),
        city=row.get("City", ""),
        state=_check("State", row.get("State", ""), "bad state", normalize_state),
        zip_code=_check("Zip", row.get("Zip", ""), "bad zip", normalize_zip),
    )


def validate_row(
    row: Mapping[str, str], line: int, settings: Settings | None = None
) -> RawAward | Reject:
    """Return the typed record, or a :class:`Reject` describing why the row was refused."""
    try:
        return parse_row(row, line, settings or get_settings())
    except RowError as error:
        return Reject(line=line, reason=error.reason, column=error.column, value=error.value)


def read_awards(path: str | Path, *, strict: bool | None = None) -> ExtractResult:
    """Read and validate every row of an awards CSV.

    ``strict`` overrides the ``SBIR_ETL_STRICT`` setting for this call.
    """
    settings = get_settings()
    if strict is not None and strict != settings.strict:
        settings = Settings(strict, settings.date_formats, settings.min_award_year)
    result = ExtractResult()
    for line, row in iter_rows(path):
        result.rows_read += 1
        outcome = validate_row(row, line, settings)
        if isinstance(outcome, Reject):
            result.rejects.append(outcome)
        else:
            result.records.append(outcome)
    return result


def write_rejects(rejects: list[Reject], path: str | Path) -> Path:
    """Write rejects to a CSV file (line, reason, column, value) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", "column", "value"])
        for reject in rejects:
            writer.writerow([reject.line, reject.reason, reject.column, reject.value])
    return target
