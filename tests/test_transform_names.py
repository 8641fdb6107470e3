"""Company-name normalization, identifiers and award keys."""

from __future__ import annotations

from datetime import date

import pytest

from sbir_etl import transform
from sbir_etl.transform import (
    display_company_name,
    make_award_key,
    normalize_company_name,
    normalize_contract,
)

SAME_COMPANY = [
    "Acme Photonics, Inc.",
    "ACME PHOTONICS INC",
    "Acme Photonics Incorporated",
    "acme photonics inc.",
    "Acme   Photonics,Inc",
    "The Acme Photonics Inc",
    "Acme Photonics",
]


@pytest.mark.parametrize("name", SAME_COMPANY)
def test_variants_share_one_key(name: str) -> None:
    assert normalize_company_name(name) == "ACME PHOTONICS"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Widget Works LLC", "WIDGET WORKS"),
        ("Widget Works, L.L.C.", "WIDGET WORKS"),
        ("Widget Works L L C", "WIDGET WORKS"),
        ("Smith & Wesson Research Corp.", "SMITH AND WESSON RESEARCH"),
        ("O'Brien Labs Ltd", "OBRIEN LABS"),
        ("Nova Devices Co., Inc.", "NOVA DEVICES"),
        ("Boreal Sciences PBC", "BOREAL SCIENCES"),
        ("Helix-Bio Limited", "HELIX BIO"),
        ("Precision Optics, P.C.", "PRECISION OPTICS"),
        ("3D Systems Corporation", "3D SYSTEMS"),
    ],
)
def test_suffixes_and_punctuation(name: str, key: str) -> None:
    assert normalize_company_name(name) == key


@pytest.mark.parametrize(
    ("name", "key"),
    [("Inc", "INC"), ("The", "THE"), ("The Company", "COMPANY"), ("LLC Inc", "LLC")],
)
def test_never_strips_to_nothing(name: str, key: str) -> None:
    assert normalize_company_name(name) == key


def test_distinct_companies_stay_distinct() -> None:
    keys = {normalize_company_name(n) for n in ("Apex Systems", "Apex Systems 2", "Apex Sys")}
    assert len(keys) == 3


def test_normalization_is_cached() -> None:
    normalize_company_name("Cached Name LLC")
    normalize_company_name("Cached Name LLC")
    info = transform.normalize_company_name.cache_info()
    assert info.hits == 1 and info.currsize == 1


def test_cache_starts_empty_in_each_test() -> None:
    assert transform.normalize_company_name.cache_info().currsize == 0


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("  Acme   Photonics, Inc. ", "Acme Photonics, Inc."), ("Widget Works,", "Widget Works")],
)
def test_display_name(raw: str, shown: str) -> None:
    assert display_company_name(raw) == shown


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("fa8650-19-c-1234", "FA8650-19-C-1234"), (" W911NF 19 C 0001 ", "W911NF19C0001")],
)
def test_normalize_contract(raw: str, clean: str) -> None:
    assert normalize_contract(raw) == clean


def test_award_key_prefers_contract() -> None:
    key = make_award_key("C1", "ACME", "I", tracking="T9", title="X")
    assert key == "C:C1|ACME|I"


def test_award_key_falls_back_to_tracking_number() -> None:
    assert make_award_key("", "ACME", "II", tracking="T9") == "T:T9|ACME|II"


def test_award_key_hashes_title_and_date_last() -> None:
    a = make_award_key("", "ACME", "I", title="Laser", award_date=date(2020, 1, 1))
    b = make_award_key("", "ACME", "I", title="LASER", award_date=date(2020, 1, 1))
    c = make_award_key("", "ACME", "I", title="Laser", award_date=date(2020, 1, 2))
    assert a == b != c
    assert a.startswith("H:") and a.endswith("|ACME|I")
