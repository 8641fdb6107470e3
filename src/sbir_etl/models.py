"""Record types shared by the pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal

# Columns of the public SBIR awards export that the pipeline reads.
AWARD_COLUMNS: tuple[str, ...] = (
    "Company",
    "Award Title",
    "Agency",
    "Branch",
    "Phase",
    "Program",
    "Agency Tracking Number",
    "Contract",
    "Proposal Award Date",
    "Contract End Date",
    "Solicitation Number",
    "Solicitation Year",
    "Topic Code",
    "Award Year",
    "Award Amount",
    "UEI",
    "Duns",
    "Hubzone Owned",
    "Socially and Economically Disadvantaged",
    "Women Owned",
    "Number Employees",
    "Company Website",
    "Address1",
    "City",
    "State",
    "Zip",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("Company", "Agency", "Phase", "Award Amount")
DATE_COLUMNS: tuple[str, ...] = ("Proposal Award Date", "Award Date")


@dataclass(frozen=True, slots=True)
class Reject:
    """A source row that failed validation, with the reason it was refused."""

    line: int
    reason: str
    column: str
    value: str


@dataclass(frozen=True, slots=True)
class RawAward:
    """A validated award row: typed values, but names not yet normalized."""

    line: int
    company: str
    agency: str
    phase: str
    program: str
    amount: Decimal
    award_date: date | None
    award_year: int
    title: str = ""
    branch: str = ""
    contract: str = ""
    tracking_number: str = ""
    solicitation: str = ""
    topic_code: str = ""
    uei: str = ""
    duns: str = ""
    employees: int | None = None
    website: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""


@dataclass(frozen=True, slots=True)
class Award:
    """A cleaned award, ready to enrich and load."""

    award_key: str
    company_key: str
    company_name: str
    agency_code: str
    phase: str
    program: str
    amount: Decimal
    award_date: date | None
    award_year: int
    title: str = ""
    branch: str = ""
    contract: str = ""
    tracking_number: str = ""
    solicitation: str = ""
    uei: str = ""
    duns: str = ""
    employees: int | None = None
    city: str = ""
    state: str = ""
    zip_code: str = ""
    source_line: int = 0

    def completeness(self) -> int:
        """Count filled-in optional fields; used to pick the best duplicate."""
        score = 0
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value not in ("", None):
                score += 1
        return score


@dataclass(frozen=True, slots=True)
class AgencyRef:
    """One row of the agency reference dataset."""

    code: str
    name: str
    department: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transaction:
    """One contract obligation transaction."""

    transaction_id: str
    contract: str
    action_date: date
    obligated: Decimal
    agency_code: str = ""


@dataclass(frozen=True, slots=True)
class ContractSummary:
    """Aggregated obligations of one contract."""

    contract: str
    total_obligated: Decimal
    transactions: int
    first_action: date
    last_action: date


@dataclass(frozen=True, slots=True)
class EnrichedAward:
    """An award joined with its agency name and contract obligations."""

    award: Award
    agency_name: str
    total_obligated: Decimal | None = None
    transactions: int = 0

    @property
    def obligation_ratio(self) -> float | None:
        """Obligated / awarded, or ``None`` when no obligations are known."""
        if self.total_obligated is None or not self.award.amount:
            return None
        return float(self.total_obligated / self.award.amount)


@dataclass(slots=True)
class StageReport:
    """Counters a stage reports to the next one and to the CLI summary."""

    rows_read: int = 0
    rejected: int = 0
    duplicates: int = 0
    loaded: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
