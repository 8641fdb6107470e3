"""Join cleaned awards with agency reference records and contract transactions."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .agencies import agency_name, register_agency, register_agency_alias
from .models import AgencyRef, Award, ContractSummary, EnrichedAward, Reject, Transaction
from .transform import normalize_contract, parse_amount, parse_date

AGENCY_COLUMNS: tuple[str, ...] = ("code", "name", "department", "aliases")
TRANSACTION_COLUMNS: tuple[str, ...] = (
    "transaction_id", "contract", "action_date", "obligated_amount", "agency_code",
)


class EnrichError(Exception):
    """A reference file cannot be used (missing, wrong header, inconsistent)."""


def _open_csv(path: str | Path, required: Sequence[str]) -> tuple[list[dict[str, str]], list[int]]:
    """Read a whole CSV after checking its header; return rows and their line numbers."""
    source = Path(path)
    if not source.is_file():
        raise EnrichError(f"no such file: {source}")
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [column for column in required if column not in header]
        if missing:
            raise EnrichError(f"{source.name}: missing columns {', '.join(missing)}")
        rows: list[dict[str, str]] = []
        lines: list[int] = []
        for row in reader:
            rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items()})
            lines.append(reader.line_num)
    return rows, lines


def read_agency_reference(path: str | Path) -> dict[str, AgencyRef]:
    """Read the agency reference CSV (code, name, department, ``;``-separated aliases)."""
    rows, lines = _open_csv(path, AGENCY_COLUMNS[:2])
    agencies: dict[str, AgencyRef] = {}
    for row, line in zip(rows, lines, strict=True):
        code = row["code"].upper()
        if not code or not row["name"]:
            raise EnrichError(f"line {line}: agency code and name are required")
        if code in agencies:
            raise EnrichError(f"line {line}: duplicate agency code {code}")
        aliases = tuple(a.strip() for a in row.get("aliases", "").split(";") if a.strip())
        agencies[code] = AgencyRef(code, row["name"], row.get("department", ""), aliases)
    return agencies


def register_reference(agencies: Iterable[AgencyRef]) -> int:
    """Add reference agencies and their aliases to the alias registry; return aliases added."""
    added = 0
    for ref in agencies:
        register_agency(ref.code, ref.name)
        for alias in ref.aliases:
            register_agency_alias(alias, ref.code)
            added += 1
    return added


@dataclass(slots=True)
class TransactionResult:
    """Parsed transactions and the rows that could not be parsed."""

    transactions: list[Transaction] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def read_transactions(path: str | Path) -> TransactionResult:
    """Read contract transactions; rows with bad amounts or dates become rejects."""
    rows, lines = _open_csv(path, TRANSACTION_COLUMNS[:4])
    result = TransactionResult()
    seen: set[str] = set()
    for row, line in zip(rows, lines, strict=True):
        tx_id, contract = row["transaction_id"], normalize_contract(row["contract"])
        try:
            if not tx_id or not contract:
                raise ValueError("missing transaction id or contract")
            if tx_id in seen:
                raise ValueError("duplicate transaction id")
            action = parse_date(row["action_date"])
            amount = parse_amount(row["obligated_amount"])
        except ValueError as exc:
            result.rejects.append(Reject(line, str(exc), "*", tx_id))
            continue
        seen.add(tx_id)
        result.transactions.append(
            Transaction(tx_id, contract, action, amount, row.get("agency_code", "").upper())
        )
    return result


def summarize_transactions(transactions: Iterable[Transaction]) -> dict[str, ContractSummary]:
    """Total the obligations of each contract (de-obligations count negative)."""
    summaries: dict[str, ContractSummary] = {}
    for tx in transactions:
        prev = summaries.get(tx.contract)
        if prev is None:
            summaries[tx.contract] = ContractSummary(
                tx.contract, tx.obligated, 1, tx.action_date, tx.action_date
            )
        else:
            summaries[tx.contract] = ContractSummary(
                tx.contract,
                prev.total_obligated + tx.obligated,
                prev.transactions + 1,
                min(prev.first_action, tx.action_date),
                max(prev.last_action, tx.action_date),
            )
    return summaries


@dataclass(slots=True)
class EnrichResult:
    """Enriched awards plus what failed to match on either side."""

    awards: list[EnrichedAward]
    agencies: list[AgencyRef]
    unmatched_awards: int = 0
    orphan_contracts: list[str] = field(default_factory=list)

    @property
    def total_obligated(self) -> Decimal:
        """Sum of obligations over all matched awards."""
        return sum(
            (a.total_obligated for a in self.awards if a.total_obligated is not None), Decimal(0)
        )


def enrich_awards(
    awards: Sequence[Award],
    *,
    agencies: Mapping[str, AgencyRef] | None = None,
    summaries: Mapping[str, ContractSummary] | None = None,
) -> EnrichResult:
    """Attach agency names and contract obligation totals to each award.

    An award's obligations are attributed only when its contract number matches;
    transaction contracts that match no award are reported as orphans.
    """
    refs = dict(agencies or {})
    sums = dict(summaries or {})
    enriched: list[EnrichedAward] = []
    unmatched = 0
    used_codes: dict[str, None] = {}
    for award in awards:
        ref = refs.get(award.agency_code)
        name = ref.name if ref else agency_name(award.agency_code)
        used_codes.setdefault(award.agency_code)
        summary = sums.get(award.contract) if award.contract else None
        if award.contract and summary is None:
            unmatched += 1
        enriched.append(
            EnrichedAward(
                award=award,
                agency_name=name,
                total_obligated=summary.total_obligated if summary else None,
                transactions=summary.transactions if summary else 0,
            )
        )
    award_contracts = {award.contract for award in awards if award.contract}
    orphans = sorted(contract for contract in sums if contract not in award_contracts)
    agency_rows = [
        refs.get(code) or AgencyRef(code, agency_name(code)) for code in sorted(used_codes)
    ]
    return EnrichResult(enriched, agency_rows, unmatched, orphans)
