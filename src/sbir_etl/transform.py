"""Normalization of award fields and de-duplication of awards.

Company-name normalization is cached with :func:`functools.lru_cache`; call
:func:`clear_caches` (or :func:`sbir_etl.state.reset_state`) to drop it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .agencies import normalize_agency
from .models import Award, RawAward
from .settings import get_settings

COMPANY_SUFFIXES: frozenset[str] = frozenset(
    {
        "INC", "INCORPORATED", "LLC", "CORP", "CORPORATION", "CO", "COMPANY",
        "LTD", "LIMITED", "LP", "LLP", "PLLC", "PC", "PBC", "LC",
    }
)
US_STATES: frozenset[str] = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA PR RI SC SD TN TX UT VT VA WA WV WI WY GU VI".split()
)
_STATE_NAMES: dict[str, str] = {
    "CALIFORNIA": "CA", "MASSACHUSETTS": "MA", "VIRGINIA": "VA", "MARYLAND": "MD",
    "TEXAS": "TX", "COLORADO": "CO", "OHIO": "OH", "NEW YORK": "NY",
}
_PHASES: dict[str, str] = {
    "I": "I", "1": "I", "II": "II", "2": "II", "III": "III", "3": "III",
}
_PROGRAMS: frozenset[str] = frozenset({"SBIR", "STTR"})
_UEI_RE = re.compile(r"^[A-HJ-NP-Z1-9][A-HJ-NP-Z0-9]{11}$")
_AMOUNT_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<mult>[KMB]?)$")
_MULTIPLIERS: dict[str, Decimal] = {
    "": Decimal(1), "K": Decimal(1_000), "M": Decimal(1_000_000), "B": Decimal(1_000_000_000),
}
_CENT = Decimal("0.01")
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^A-Z0-9 ]+")


def collapse_spaces(text: str) -> str:
    """Strip ``text`` and collapse internal runs of whitespace to one space."""
    return _SPACES.sub(" ", text).strip()


@functools.lru_cache(maxsize=65536)
def normalize_company_name(name: str) -> str:
    """Return the matching key of a company name: upper case, no punctuation or legal suffix."""
    text = name.upper().replace("&", " AND ").replace("'", "").replace(".", "")
    tokens = collapse_spaces(_NON_WORD.sub(" ", text)).split(" ")
    tokens = [token for token in tokens if token]
    if len(tokens) > 1 and tokens[0] == "THE":
        tokens = tokens[1:]
    while len(tokens) > 1:
        if tokens[-1] in COMPANY_SUFFIXES:
            tokens.pop()
        elif len(tokens) > 3 and "".join(tokens[-3:]) == "LLC":
            del tokens[-3:]
        else:
            break
    return " ".join(tokens)


def display_company_name(name: str) -> str:
    """Tidy a company name for display, keeping its own capitalisation."""
    return collapse_spaces(name).strip(" ,;")


def parse_amount(text: str) -> Decimal:
    """Parse amounts such as ``"$1,234.50"``, ``"(500)"``, ``"USD 2.5M"`` into cents-precise Decimal."""
    raw = text.strip().upper()
    negative = raw.startswith("(") and raw.endswith(")")
    if negative:
        raw = raw[1:-1]
    if raw.startswith("-"):
        negative, raw = True, raw[1:]
    cleaned = raw.replace("USD", "").replace("$", "").replace(",", "").replace(" ", "")
    match = _AMOUNT_RE.match(cleaned)
    if not match:
        raise ValueError(f"not an amount: {text!r}")
    try:
        value = Decimal(match["num"]) * _MULTIPLIERS[match["mult"]]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise ValueError(f"not an amount: {text!r}") from exc
    value = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    return -value if negative else value


def parse_date(text: str, formats: Sequence[str] | None = None) -> date:
    """Parse a date trying each format in turn (settings' formats by default)."""
    raw = collapse_spaces(text)
    if not raw:
        raise ValueError("empty date")
    for fmt in formats if formats is not None else get_settings().date_formats:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"unrecognised date: {text!r}")


def normalize_phase(text: str) -> str:
    """Map ``Phase I``/``1``/``phase-ii`` etc. to ``I``, ``II`` or ``III``."""
    raw = collapse_spaces(text.upper().replace("-", " "))
    if raw.startswith("PHASE"):
        raw = raw[len("PHASE"):].strip()
    try:
        return _PHASES[raw]
    except KeyError:
        raise ValueError(f"bad phase: {text!r}") from None


def normalize_program(text: str) -> str:
    """Return ``SBIR`` or ``STTR`` (empty means SBIR)."""
    raw = text.strip().upper() or "SBIR"
    if raw not in _PROGRAMS:
        raise ValueError(f"bad program: {text!r}")
    return raw


def normalize_uei(text: str) -> str:
    """Validate a SAM Unique Entity ID (12 characters, no I/O, not starting with 0)."""
    raw = text.strip().upper()
    if raw and not _UEI_RE.match(raw):
        raise ValueError(f"bad UEI: {text!r}")
    return raw


def normalize_duns(text: str) -> str:
    """Return a 9-digit DUNS, restoring leading zeros lost by spreadsheets."""
    raw = text.strip().replace("-", "")
    if not raw:
        return ""
    if not raw.isdigit() or len(raw) > 9:
        raise ValueError(f"bad DUNS: {text!r}")
    return raw.zfill(9)


def normalize_zip(text: str) -> str:
    """Return a 5-digit ZIP code from ZIP, ZIP+4 or a ZIP that lost its leading zero."""
    raw = text.strip()
    if not raw:
        return ""
    head = raw.split("-", 1)[0].strip()
    if not head.isdigit() or len(head) not in (3, 4, 5, 9):
        raise ValueError(f"bad ZIP: {text!r}")
    return head[:5] if len(head) == 9 else head.zfill(5)


def normalize_state(text: str) -> str:
    """Return a two-letter state code from a code or a (common) state name."""
    raw = collapse_spaces(text.upper().replace(".", ""))
    if not raw:
        return ""
    code = _STATE_NAMES.get(raw, raw)
    if code not in US_STATES:
        raise ValueError(f"bad state: {text!r}")
    return code


def normalize_contract(text: str) -> str:
    """Upper-case a contract number and drop any whitespace inside it."""
    return _SPACES.sub("", text.strip().upper())


def make_award_key(
    contract: str, company_key: str, phase: str, *, tracking: str = "", title: str = "",
    award_date: date | None = None,
) -> str:
    """Build the identity of an award: contract + company + phase, with fallbacks."""
    if contract:
        return f"C:{contract}|{company_key}|{phase}"
    if tracking:
        return f"T:{tracking}|{company_key}|{phase}"
    digest = hashlib.sha1(f"{title.upper()}|{award_date}".encode()).hexdigest()[:16]
    return f"H:{digest}|{company_key}|{phase}"


def clean_award(raw: RawAward) -> Award:
    """Normalize one validated row into an :class:`Award`."""
    company_key = normalize_company_name(raw.company)
    contract = normalize_contract(raw.contract)
    tracking = raw.tracking_number.strip().upper()
    return Award(
        award_key=make_award_key(
            contract, company_key, raw.phase, tracking=tracking, title=raw.title,
            award_date=raw.award_date,
        ),
        company_key=company_key,
        company_name=display_company_name(raw.company),
        agency_code=normalize_agency(raw.agency),
        phase=raw.phase,
        program=raw.program,
        amount=raw.amount,
        award_date=raw.award_date,
        award_year=raw.award_year,
        title=collapse_spaces(raw.title),
        branch=collapse_spaces(raw.branch),
        contract=contract,
        tracking_number=tracking,
        solicitation=raw.solicitation.strip(),
        uei=raw.uei,
        duns=raw.duns,
        employees=raw.employees,
        city=collapse_spaces(raw.city).title(),
        state=raw.state,
        zip_code=raw.zip_code,
        source_line=raw.line,
    )


@dataclass(frozen=True, slots=True)
class DedupeResult:
    """Awards kept (first-seen order) and the duplicates dropped."""

    kept: list[Award]
    dropped: list[Award]


def dedupe_awards(awards: Iterable[Award]) -> DedupeResult:
    """Keep one award per key, preferring the most complete; ties keep the first seen."""
    best: dict[str, Award] = {}
    dropped: list[Award] = []
    for award in awards:
        current = best.get(award.award_key)
        if current is None:
            best[award.award_key] = award
        elif award.completeness() > current.completeness():
            dropped.append(current)
            best[award.award_key] = award
        else:
            dropped.append(award)
    kept = sorted(best.values(), key=lambda item: item.source_line)
    return DedupeResult(kept=kept, dropped=dropped)


def transform_records(raws: Iterable[RawAward]) -> DedupeResult:
    """Clean every validated row and de-duplicate the result."""
    return dedupe_awards(clean_award(raw) for raw in raws)


def clear_caches() -> None:
    """Drop the normalization caches of this module and of the agency registry."""
    normalize_company_name.cache_clear()
    normalize_agency.cache_clear()
