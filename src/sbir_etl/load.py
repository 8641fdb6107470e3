"""Write enriched awards, their companies, agencies and transactions into the store.

All writes are upserts keyed on natural keys (company name key, award key,
agency code, transaction id), so re-loading the same input changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .models import AgencyRef, Award, EnrichedAward, Transaction
from .store import TABLES, open_store


def to_cents(amount: Decimal | None) -> int | None:
    """Convert a Decimal amount to integer cents (``None`` stays ``None``)."""
    return None if amount is None else int((amount * 100).to_integral_value())


@dataclass(slots=True)
class LoadResult:
    """Row counts before and after a load."""

    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)

    @property
    def inserted(self) -> dict[str, int]:
        """Rows added per table by this load."""
        return {t: self.after.get(t, 0) - self.before.get(t, 0) for t in self.after}


@dataclass(slots=True)
class _CompanyRow:
    """Company attributes merged across all of its awards."""

    name_key: str
    name: str
    uei: str = ""
    duns: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    employees: int | None = None

    def absorb(self, award: Award) -> None:
        """Fill still-empty attributes from another award of the same company."""
        self.uei = self.uei or award.uei
        self.duns = self.duns or award.duns
        self.city = self.city or award.city
        self.state = self.state or award.state
        self.zip = self.zip or award.zip_code
        if self.employees is None:
            self.employees = award.employees


def merge_companies(awards: Iterable[Award]) -> list[_CompanyRow]:
    """Collapse awards to one row per company key, first non-empty value wins."""
    companies: dict[str, _CompanyRow] = {}
    for award in awards:
        row = companies.get(award.company_key)
        if row is None:
            row = companies[award.company_key] = _CompanyRow(award.company_key, award.company_name)
        row.absorb(award)
    return list(companies.values())


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def _upsert_agencies(conn: sqlite3.Connection, agencies: Iterable[AgencyRef]) -> None:
    conn.executemany(
        "INSERT INTO agencies(code, name, department) VALUES (?, ?, ?) "
        "ON CONFLICT(code) DO UPDATE SET name = excluded.name, "
        "department = CASE WHEN excluded.department <> '' THEN excluded.department "
        "ELSE agencies.department END",
        [(a.code, a.name, a.department) for a in agencies],
    )


def _upsert_companies(conn: sqlite3.Connection, companies: Sequence[_CompanyRow]) -> dict[str, int]:
    conn.executemany(
        "INSERT INTO companies(name_key, name, uei, duns, city, state, zip, employees) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name_key) DO UPDATE SET "
        "uei = COALESCE(NULLIF(excluded.uei, ''), companies.uei), "
        "duns = COALESCE(NULLIF(excluded.duns, ''), companies.duns), "
        "city = COALESCE(NULLIF(excluded.city, ''), companies.city), "
        "state = COALESCE(NULLIF(excluded.state, ''), companies.state), "
        "zip = COALESCE(NULLIF(excluded.zip, ''), companies.zip), "
        "employees = COALESCE(excluded.employees, companies.employees)",
        [(c.name_key, c.name, c.uei, c.duns, c.city, c.state, c.zip, c.employees)
         for c in companies],
    )
    return dict(conn.execute("SELECT name_key, id FROM companies"))


_AWARD_COLUMNS = (
    "award_key", "company_id", "agency_code", "phase", "program", "title", "branch", "contract",
    "tracking_number", "solicitation", "amount_cents", "award_date", "award_year",
    "total_obligated_cents", "transactions",
)
_AWARD_UPSERT = (
    f"INSERT INTO awards({', '.join(_AWARD_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _AWARD_COLUMNS)}) ON CONFLICT(award_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _AWARD_COLUMNS[1:])
)


def _award_row(item: EnrichedAward, company_ids: dict[str, int]) -> tuple[object, ...]:
    award = item.award
    return (
        award.award_key, company_ids[award.company_key], award.agency_code, award.phase,
        award.program, award.title, award.branch, award.contract, award.tracking_number,
        award.solicitation, to_cents(award.amount),
        award.award_date.isoformat() if award.award_date else None, award.award_year,
        to_cents(item.total_obligated), item.transactions,
    )


def _refresh_derived(conn: sqlite3.Connection) -> None:
    """Recompute obligation totals, the company/agency relation and the meta counts."""
    conn.execute(
        "UPDATE awards SET "
        "transactions = (SELECT COUNT(*) FROM transactions t WHERE t.contract = awards.contract), "
        "total_obligated_cents = (SELECT SUM(t.obligated_cents) FROM transactions t "
        "WHERE t.contract = awards.contract) WHERE contract <> ''"
    )
    conn.execute("DELETE FROM company_agencies")
    conn.execute(
        "INSERT INTO company_agencies(company_id, agency_code, awards) "
        "SELECT company_id, agency_code, COUNT(*) FROM awards GROUP BY company_id, agency_code"
    )
    for table in ("awards", "companies", "agencies"):
        count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (f"count_{table}", str(count)),
        )


def load_store(
    store_path: str | Path,
    awards: Sequence[EnrichedAward],
    agencies: Iterable[AgencyRef],
    transactions: Iterable[Transaction] = (),
) -> LoadResult:
    """Upsert everything in one transaction and return the before/after row counts."""
    with open_store(store_path) as conn:
        result = LoadResult(before=_counts(conn))
        with conn:
            _upsert_agencies(conn, agencies)
            company_ids = _upsert_companies(conn, merge_companies(a.award for a in awards))
            conn.executemany(_AWARD_UPSERT, (_award_row(a, company_ids) for a in awards))
            conn.executemany(
                "INSERT INTO transactions(transaction_id, contract, action_date, "
                "obligated_cents, agency_code) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(transaction_id) DO UPDATE SET contract = excluded.contract, "
                "action_date = excluded.action_date, obligated_cents = excluded.obligated_cents, "
                "agency_code = excluded.agency_code",
                ((t.transaction_id, t.contract, t.action_date.isoformat(), to_cents(t.obligated),
                  t.agency_code) for t in transactions),
            )
            _refresh_derived(conn)
        result.after = _counts(conn)
    return result
