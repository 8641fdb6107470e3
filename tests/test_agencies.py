"""The agency alias registry (module-level, mutable state)."""

from __future__ import annotations

import pytest

from sbir_etl import agencies
from sbir_etl.agencies import (
    UnknownAgencyError,
    agency_name,
    alias_key,
    known_codes,
    normalize_agency,
    register_agency,
    register_agency_alias,
    reset_registry,
    restore_registry,
    snapshot_registry,
)

SPELLINGS = [
    ("Department of Defense", "DOD"),
    ("DoD", "DOD"),
    ("Dept. of Defense", "DOD"),
    ("U.S. Department of Defense", "DOD"),
    ("United States Department of Energy", "DOE"),
    ("Health & Human Services", "HHS"),
    ("NIH", "HHS"),
    ("nasa", "NASA"),
    ("  National   Science Foundation ", "NSF"),
    ("NOAA", "DOC"),
    ("Environmental Protection Agency", "EPA"),
    ("Department of Education", "ED"),
]


@pytest.mark.parametrize(("spelling", "code"), SPELLINGS)
def test_normalize_agency_spellings(spelling: str, code: str) -> None:
    assert normalize_agency(spelling) == code


@pytest.mark.parametrize(
    ("raw", "key"),
    [("Dept. of Energy", "DEPARTMENT OF ENERGY"), ("U.S. EPA", "EPA"), ("A&B", "A AND B")],
)
def test_alias_key(raw: str, key: str) -> None:
    assert alias_key(raw) == key


def test_unknown_agency_raises() -> None:
    with pytest.raises(UnknownAgencyError, match="Department of Magic"):
        normalize_agency("Department of Magic")


def test_register_alias_takes_effect_despite_cache() -> None:
    with pytest.raises(UnknownAgencyError):
        normalize_agency("Office of Naval Research")
    register_agency_alias("Office of Naval Research", "dod")
    assert normalize_agency("Office of Naval Research") == "DOD"


def test_registered_alias_does_not_leak_between_tests() -> None:
    # Paired with the test above: run in either order, the alias must be gone.
    with pytest.raises(UnknownAgencyError):
        normalize_agency("Office of Naval Research")


def test_register_alias_for_unknown_code_fails() -> None:
    with pytest.raises(UnknownAgencyError):
        register_agency_alias("Space Force", "USSF")


def test_register_alias_requires_letters() -> None:
    with pytest.raises(ValueError, match="alias"):
        register_agency_alias("--", "DOD")


def test_register_new_agency() -> None:
    register_agency("sba", "Small Business Administration")
    assert known_codes()["SBA"] == "Small Business Administration"
    assert normalize_agency("Small Business Administration") == "SBA"
    assert agency_name("SBA") == "Small Business Administration"


def test_register_agency_requires_code() -> None:
    with pytest.raises(ValueError):
        register_agency("  ", "Nameless")


def test_register_existing_canonical_code_keeps_name() -> None:
    register_agency("DOD", "Defense (renamed)")
    assert agency_name("DOD") == "Department of Defense"


def test_agency_name_falls_back_to_code() -> None:
    assert agency_name("XYZ") == "XYZ"


def test_snapshot_and_restore() -> None:
    snap = snapshot_registry()
    register_agency("ARPA-H", "Advanced Research Projects Agency for Health")
    assert "ARPA-H" in known_codes()
    restore_registry(snap)
    assert "ARPA-H" not in known_codes()
    with pytest.raises(UnknownAgencyError):
        normalize_agency("ARPA-H")


def test_reset_registry_drops_runtime_aliases() -> None:
    register_agency_alias("Defense Dept", "DOD")
    reset_registry()
    with pytest.raises(UnknownAgencyError):
        normalize_agency("Defense Dept")
    assert normalize_agency("DOD") == "DOD"


def test_cache_records_hits() -> None:
    for _ in range(3):
        normalize_agency("NASA")
    info = agencies.normalize_agency.cache_info()
    assert (info.hits, info.misses) == (2, 1)
