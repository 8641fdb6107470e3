"""Seeded generator of realistic synthetic SBIR input.

Produces an awards CSV in the column layout of the public export (with a
controlled number of dirty rows and duplicates), an agency reference CSV and a
contract transactions CSV. The same ``(rows, seed, fractions)`` always yields
byte-identical files, and :class:`SyntheticDataset` says exactly what a correct
pipeline must make of them.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from .models import AWARD_COLUMNS
from .transform import normalize_company_name

_PREFIXES = (
    "Advanced", "Applied", "Quantum", "Photonic", "Bio", "Nano", "Aero", "Cyber", "Precision",
    "Spectral", "Thermal", "Orbital", "Kinetic", "Coherent", "Adaptive", "Integrated", "Vector",
    "Polar", "Cascade", "Summit", "Frontier", "Helix", "Catalyst", "Lumina", "Sigma", "Nova",
    "Apex", "Stratus", "Meridian", "Tessellate", "Ion", "Cobalt", "Graphene", "Neural", "Fusion",
    "Sentinel", "Atlas", "Boreal", "Clearwater", "Redwood",
)
_CORES = (
    "Systems", "Technologies", "Research", "Dynamics", "Sciences", "Labs", "Materials", "Devices",
    "Solutions", "Analytics", "Photonics", "Robotics", "Therapeutics", "Diagnostics", "Energy",
    "Sensors", "Optics", "Engineering", "Innovations", "Microsystems", "Biosciences", "Aerospace",
    "Instruments", "Software", "Medical",
)
_SURNAMES = (
    "Hughes", "Patel", "Nakamura", "Okafor", "Lindqvist", "Moreno", "Kowalski", "Chen", "Dubois",
    "Fischer", "Ivanova", "Haddad", "Silva", "Brennan", "Yamada", "Novak", "Adeyemi", "Larsen",
    "Quinn", "Rossi", "Schmidt", "Tanaka", "Walsh", "Zhang", "Osei", "Murphy", "Kim", "Singh",
)
_LEGAL = ("Inc", "LLC", "Corp", "Corporation", "Incorporated", "Ltd")
_LEGAL_VARIANTS = {
    "Inc": ("Inc", "Inc.", ", Inc.", "INC"),
    "LLC": ("LLC", "L.L.C.", ", LLC", "llc"),
    "Corp": ("Corp", "Corp.", ", Corp."),
    "Corporation": ("Corporation", "CORPORATION"),
    "Incorporated": ("Incorporated", ", Incorporated"),
    "Ltd": ("Ltd", "Ltd.", "Limited"),
}
_AGENCIES: tuple[tuple[str, float, tuple[str, ...], str], ...] = (
    ("DOD", 0.45, ("Department of Defense", "DOD", "Dept. of Defense", "U.S. Department of Defense"),
     "W911NF"),
    ("HHS", 0.20, ("Department of Health and Human Services", "HHS", "NIH"), "HHSN"),
    ("NASA", 0.08, ("National Aeronautics and Space Administration", "NASA"), "NNX"),
    ("NSF", 0.08, ("National Science Foundation", "NSF"), "NSF"),
    ("DOE", 0.08, ("Department of Energy", "DOE", "Energy"), "DESC"),
    ("USDA", 0.03, ("Department of Agriculture", "USDA"), "USDA"),
    ("DHS", 0.03, ("Department of Homeland Security", "DHS"), "HSHQDC"),
    ("DOT", 0.02, ("Department of Transportation", "DOT"), "DTRT"),
    ("DOC", 0.02, ("Department of Commerce", "NOAA", "NIST"), "DOCNB"),
    ("ED", 0.01, ("Department of Education", "ED"), "EDIES"),
)
_REFERENCE_ALIASES = {
    "DOD": ("Defense Department", "DoD Office of Small Business Programs"),
    "HHS": ("National Institutes of Health", "Health & Human Services"),
    "NASA": ("NASA SBIR/STTR Program Office",),
    "DOE": ("Energy Department",),
}
_BRANCHES = ("Air Force", "Army", "Navy", "DARPA", "Missile Defense Agency", "SOCOM")
_PLACES = (
    ("Boston", "MA", "02110"), ("Cambridge", "MA", "02139"), ("Arlington", "VA", "22201"),
    ("Huntsville", "AL", "35801"), ("San Diego", "CA", "92121"), ("Boulder", "CO", "80301"),
    ("Austin", "TX", "78701"), ("Dayton", "OH", "45433"), ("Columbia", "MD", "21046"),
    ("Princeton", "NJ", "08540"), ("Ann Arbor", "MI", "48104"), ("Seattle", "WA", "98101"),
    ("Albuquerque", "NM", "87106"), ("Madison", "WI", "53703"), ("Raleigh", "NC", "27601"),
)
_TITLE_WORDS = (
    ("Low-Cost", "Compact", "Scalable", "Autonomous", "Rapid", "High-Efficiency", "Robust"),
    ("Hyperspectral", "Additive", "Cryogenic", "Machine-Learning", "Solid-State", "Microfluidic"),
    ("Sensor Array", "Manufacturing Process", "Battery Cathode", "Imaging Platform",
     "Propulsion System", "Vaccine Adjuvant", "Radar Processor", "Water Purifier"),
)
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%Y", "%Y-%m-%d", "%B %d, %Y")
_UEI_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_PHASE_SPELLINGS = {"I": ("Phase I", "I", "1"), "II": ("Phase II", "II", "2"),
                    "III": ("Phase III", "III")}
_DIRTY = (
    ("missing company", "Company", ("",)),
    ("bad amount", "Award Amount", ("N/A", "TBD", "12.3.4", "$--")),
    ("non-positive amount", "Award Amount", ("$0.00", "-5,000", "(1,250.00)")),
    ("bad date", "Proposal Award Date", ("2020-13-45", "31/31/2020", "sometime", "02/30/2019")),
    ("bad phase", "Phase", ("Phase IV", "Phase 0", "IIII")),
    ("bad UEI", "UEI", ("12AB", "0ABCDEFGHJK1", "ABCDEFGHIJKL", "ABCDEFGHJK-1")),
    ("unknown agency", "Agency", ("Department of Magic", "Bureau of Unknowns")),
)
TRANSACTION_HEADER = ("transaction_id", "contract", "action_date", "obligated_amount", "agency_code")
AGENCY_HEADER = ("code", "name", "department", "aliases")


@dataclass(slots=True)
class SyntheticDataset:
    """Paths of the generated files and the outcome a correct pipeline must produce."""

    awards_path: Path
    agencies_path: Path
    transactions_path: Path
    rows: int
    unique: int
    duplicates: int
    dirty: int
    companies: int
    transactions: int
    bad_transactions: int
    orphan_contracts: int
    seed: int
    dirty_reasons: dict[str, int] = field(default_factory=dict)

    def manifest(self) -> dict[str, object]:
        """JSON-serialisable description (paths as file names only)."""
        data = asdict(self)
        for key in ("awards_path", "agencies_path", "transactions_path"):
            data[key] = Path(data[key]).name
        return data


class _Generator:
    """Stateful helper holding the RNG and the unique-value counters."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.contract_seq = 0
        self.company_keys: set[str] = set()
        self.ueis: set[str] = set()
        self.codes = [a[0] for a in _AGENCIES]
        self.weights = [a[1] for a in _AGENCIES]
        self.by_code = {a[0]: a for a in _AGENCIES}

    def uei(self) -> str:
        while True:
            first = self.rng.choice(_UEI_ALPHABET[:-10] + "123456789")
            value = first + "".join(self.rng.choices(_UEI_ALPHABET, k=11))
            if value not in self.ueis:
                self.ueis.add(value)
                return value

    def company(self) -> dict[str, str]:
        rng = self.rng
        base = f"{rng.choice(_PREFIXES)} {rng.choice(_CORES)}"
        if normalize_company_name(base) in self.company_keys:
            base = f"{rng.choice(_SURNAMES)} {base}"
        n = 2
        stem = base
        while normalize_company_name(base) in self.company_keys:
            base, n = f"{stem} {n}", n + 1
        self.company_keys.add(normalize_company_name(base))
        city, state, zip_code = rng.choice(_PLACES)
        return {
            "base": base, "legal": rng.choice(_LEGAL), "uei": self.uei(),
            "duns": f"{rng.randrange(10**8, 10**9)}" if rng.random() < 0.7 else "",
            "city": city, "state": state, "zip": zip_code,
            "employees": str(rng.randint(1, 499)), "website": f"https://www.{base.split()[0].lower()}.example",
        }

    def company_name(self, company: dict[str, str]) -> str:
        variant = self.rng.choice(_LEGAL_VARIANTS[company["legal"]])
        sep = "" if variant.startswith(",") else " "
        name = f"{company['base']}{sep}{variant}"
        return name.upper() if self.rng.random() < 0.15 else name

    def award(self, company: dict[str, str]) -> dict[str, str]:
        rng = self.rng
        code = rng.choices(self.codes, self.weights)[0]
        _code, _w, spellings, prefix = self.by_code[code]
        phase = rng.choices(("I", "II", "III"), (0.6, 0.35, 0.05))[0]
        low, high = {"I": (50_000, 275_000), "II": (500_000, 1_900_000), "III": (1_000_000, 5_000_000)}[phase]
        amount = Decimal(rng.randrange(low * 100, high * 100)) / 100
        when = date(2005, 1, 1) + timedelta(days=rng.randrange(0, 7300))
        self.contract_seq += 1
        amount_text = rng.choice((f"${amount:,.2f}", f"{amount:.2f}", f"{amount:,.2f}"))
        return {
            "Company": self.company_name(company),
            "Award Title": " ".join(rng.choice(words) for words in _TITLE_WORDS),
            "Agency": rng.choice(spellings),
            "Branch": rng.choice(_BRANCHES) if code == "DOD" else "",
            "Phase": rng.choice(_PHASE_SPELLINGS[phase]),
            "Program": rng.choices(("SBIR", "STTR"), (0.85, 0.15))[0],
            "Agency Tracking Number": f"{code}{self.contract_seq:08d}",
            "Contract": f"{prefix}-{when.year % 100:02d}-C-{self.contract_seq:06d}",
            "Proposal Award Date": when.strftime(rng.choice(_DATE_FORMATS)),
            "Solicitation Number": f"{code}-{when.year}-{rng.randint(1, 3)}",
            "Solicitation Year": str(when.year),
            "Topic Code": f"{code[:2]}{when.year % 100:02d}-{rng.randint(1, 250):03d}",
            "Award Year": str(when.year),
            "Award Amount": amount_text,
            "UEI": company["uei"],
            "Duns": company["duns"],
            "Hubzone Owned": rng.choice(("N", "N", "Y")),
            "Socially and Economically Disadvantaged": rng.choice(("N", "N", "Y")),
            "Women Owned": rng.choice(("N", "N", "Y")),
            "Number Employees": company["employees"] if rng.random() < 0.9 else "",
            "Company Website": company["website"],
            "City": company["city"], "State": company["state"],
            "Zip": company["zip"] if rng.random() < 0.9 else "",
            "Address1": f"{rng.randint(1, 9999)} Innovation Way",
        }


def _blank_some(row: dict[str, str], rng: random.Random) -> dict[str, str]:
    """Return a copy of ``row`` with a few optional fields emptied (a less complete duplicate)."""
    copy = dict(row)
    for column in rng.sample(("Duns", "Number Employees", "Zip", "Branch", "Award Title"), k=2):
        copy[column] = ""
    return copy


def generate_dataset(
    out_dir: str | Path,
    rows: int,
    *,
    seed: int = 0,
    dirty_fraction: float = 0.05,
    duplicate_fraction: float = 0.03,
    transaction_coverage: float = 0.8,
) -> SyntheticDataset:
    """Write ``awards.csv``, ``agencies.csv`` and ``transactions.csv`` into ``out_dir``."""
    if rows < 0 or not 0 <= dirty_fraction <= 1 or not 0 <= duplicate_fraction <= 1:
        raise ValueError("rows must be >= 0 and fractions within [0, 1]")
    gen = _Generator(seed)
    rng = gen.rng
    n_dirty = round(rows * dirty_fraction)
    n_unique = rows - n_dirty
    n_dup = min(round(rows * duplicate_fraction), n_unique // 2)
    n_unique -= n_dup
    companies = [gen.company() for _ in range(max(1, n_unique // 4))]
    used_companies: set[str] = set()
    unique_rows: list[dict[str, str]] = []
    for _ in range(n_unique):
        company = rng.choice(companies)
        used_companies.add(company["base"])
        unique_rows.append(gen.award(company))
    out_rows = list(unique_rows)
    for original in rng.sample(unique_rows, n_dup):
        dup = _blank_some(original, rng) if rng.random() < 0.7 else dict(original)
        if rng.random() < 0.5:
            dup["Company"] = dup["Company"].upper()
        out_rows.append(dup)
    reasons: dict[str, int] = {}
    for _ in range(n_dirty):
        row = gen.award(rng.choice(companies))
        reason, column, values = rng.choice(_DIRTY)
        row[column] = rng.choice(values)
        reasons[reason] = reasons.get(reason, 0) + 1
        out_rows.append(row)
    rng.shuffle(out_rows)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    awards_path = out / "awards.csv"
    with awards_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=AWARD_COLUMNS)
        writer.writeheader()
        writer.writerows(out_rows)

    transactions_path = out / "transactions.csv"
    n_tx, n_bad, orphans = _write_transactions(transactions_path, unique_rows, gen,
                                               transaction_coverage, dirty_fraction)
    agencies_path = out / "agencies.csv"
    _write_agencies(agencies_path)
    return SyntheticDataset(
        awards_path=awards_path, agencies_path=agencies_path,
        transactions_path=transactions_path, rows=rows, unique=n_unique, duplicates=n_dup,
        dirty=n_dirty, companies=len(used_companies), transactions=n_tx, bad_transactions=n_bad,
        orphan_contracts=orphans, seed=seed, dirty_reasons=dict(sorted(reasons.items())),
    )


def _write_transactions(
    path: Path, awards: list[dict[str, str]], gen: _Generator, coverage: float,
    dirty_fraction: float,
) -> tuple[int, int, int]:
    """Write obligations for a share of the awards plus orphans and bad rows."""
    rng = gen.rng
    records: list[tuple[str, str, str, str, str]] = []
    seq = 0
    for row in awards:
        if rng.random() >= coverage:
            continue
        code = row["Agency Tracking Number"].rstrip("0123456789")
        start = date(int(row["Award Year"]), 1, 1) + timedelta(days=rng.randrange(0, 300))
        for i in range(rng.randint(1, 4)):
            seq += 1
            amount = Decimal(rng.randrange(1_000_00, 400_000_00)) / 100
            if i and rng.random() < 0.1:
                amount = -amount / 10
            when = start + timedelta(days=90 * i)
            records.append((f"TX{seq:09d}", row["Contract"], when.isoformat(), f"{amount:.2f}", code))
    orphans = max(1, len(records) // 50) if records else 0
    for i in range(orphans):
        seq += 1
        records.append((f"TX{seq:09d}", f"ORPHAN-{i:06d}", "2019-06-30", "1000.00", "DOD"))
    n_bad = round(len(records) * dirty_fraction / 5)
    for _ in range(n_bad):
        seq += 1
        records.append((f"TX{seq:09d}", "BAD-CONTRACT", "not-a-date", "12.00", "DOD"))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRANSACTION_HEADER)
        writer.writerows(records)
    return len(records) - n_bad, n_bad, orphans


def _write_agencies(path: Path) -> None:
    """Write the agency reference file (all canonical agencies with extra aliases)."""
    from .agencies import CANONICAL_AGENCIES

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(AGENCY_HEADER)
        for code, name in CANONICAL_AGENCIES.items():
            department = "Independent agency" if code in {"NASA", "NSF", "EPA"} else "Cabinet"
            writer.writerow([code, name, department, ";".join(_REFERENCE_ALIASES.get(code, ()))])


def write_manifest(dataset: SyntheticDataset, path: str | Path) -> Path:
    """Write the dataset description as JSON next to the generated files."""
    target = Path(path)
    target.write_text(json.dumps(dataset.manifest(), indent=2, sort_keys=True) + "\n")
    return target
