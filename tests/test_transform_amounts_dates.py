"""Parsing of amounts and dates, and the small field normalizers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sbir_etl.transform import (
    normalize_duns,
    normalize_phase,
    normalize_program,
    normalize_state,
    normalize_uei,
    normalize_zip,
    parse_amount,
    parse_date,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("$1,234.50", "1234.50"),
        ("1234", "1234.00"),
        ("  $ 99,999.999 ", "100000.00"),
        ("0.005", "0.01"),
        ("USD 2,500", "2500.00"),
        ("1.5M", "1500000.00"),
        ("250k", "250000.00"),
        ("(1,000.00)", "-1000.00"),
        ("-42.10", "-42.10"),
        ("$0", "0.00"),
        ("2B", "2000000000.00"),
    ],
)
def test_parse_amount(text: str, value: str) -> None:
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "N/A", "12.3.4", "$--", "1,0x0", "1.5MM", "ten", "$"])
def test_parse_amount_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


@pytest.mark.parametrize(
    "text",
    [
        "2019-06-15", "06/15/2019", "6/15/19", "2019/06/15", "15-Jun-2019", "15-Jun-19",
        "June 15, 2019", "Jun 15, 2019", "20190615", "2019-06-15T00:00:00", "06/15/2019 13:45",
    ],
)
def test_parse_date_formats(text: str) -> None:
    assert parse_date(text) == date(2019, 6, 15)


@pytest.mark.parametrize("text", ["", "   ", "2019-13-01", "02/30/2019", "someday", "15.06.2019"])
def test_parse_date_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


def test_parse_date_with_explicit_formats() -> None:
    assert parse_date("15.06.2019", ["%d.%m.%Y"]) == date(2019, 6, 15)
    with pytest.raises(ValueError):
        parse_date("2019-06-15", ["%d.%m.%Y"])


@pytest.mark.parametrize(
    ("text", "phase"),
    [("Phase I", "I"), ("phase ii", "II"), ("PHASE-III", "III"), ("1", "I"), (" 2 ", "II"),
     ("Phase 3", "III")],
)
def test_normalize_phase(text: str, phase: str) -> None:
    assert normalize_phase(text) == phase


@pytest.mark.parametrize("text", ["", "Phase IV", "Phase", "0", "IIII"])
def test_normalize_phase_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad phase"):
        normalize_phase(text)


@pytest.mark.parametrize(("text", "program"), [("", "SBIR"), ("sttr", "STTR"), (" SBIR ", "SBIR")])
def test_normalize_program(text: str, program: str) -> None:
    assert normalize_program(text) == program


def test_normalize_program_rejects() -> None:
    with pytest.raises(ValueError):
        normalize_program("SBIR/STTR")


@pytest.mark.parametrize("uei", ["JX7LKR4M2BN5", "jx7lkr4m2bn5", "", "Z12345678901"])
def test_normalize_uei_accepts(uei: str) -> None:
    assert normalize_uei(uei) == uei.upper()


@pytest.mark.parametrize("uei", ["12AB", "0JX7LKR4M2BN", "ABCDEFGHIJKL", "JX7LKR4M2BN5X", "JX7-KR4M2BN5"])
def test_normalize_uei_rejects(uei: str) -> None:
    with pytest.raises(ValueError, match="UEI"):
        normalize_uei(uei)


@pytest.mark.parametrize(
    ("text", "duns"), [("123456789", "123456789"), ("12345678", "012345678"), ("", ""),
                       ("12-345-6789", "123456789")],
)
def test_normalize_duns(text: str, duns: str) -> None:
    assert normalize_duns(text) == duns


@pytest.mark.parametrize("text", ["1234567890", "12345678X"])
def test_normalize_duns_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_duns(text)


@pytest.mark.parametrize(
    ("text", "zip_code"),
    [("02139", "02139"), ("2139", "02139"), ("02139-4307", "02139"), ("021394307", "02139"),
     ("", "")],
)
def test_normalize_zip(text: str, zip_code: str) -> None:
    assert normalize_zip(text) == zip_code


@pytest.mark.parametrize("text", ["AB123", "12", "123456"])
def test_normalize_zip_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_zip(text)


@pytest.mark.parametrize(
    ("text", "state"), [("ma", "MA"), ("Massachusetts", "MA"), ("D.C.", "DC"), ("", "")]
)
def test_normalize_state(text: str, state: str) -> None:
    assert normalize_state(text) == state


def test_normalize_state_rejects() -> None:
    with pytest.raises(ValueError):
        normalize_state("Atlantis")
