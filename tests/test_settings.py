"""Settings read from ``SBIR_ETL_*`` environment variables."""

from __future__ import annotations

import pytest

from sbir_etl import settings
from sbir_etl.settings import (
    DEFAULT_DATE_FORMATS,
    DEFAULT_MIN_AWARD_YEAR,
    Settings,
    get_settings,
    parse_bool,
    parse_date_formats,
    reset_settings,
    settings_from_env,
)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " y "])
def test_parse_bool_true(value: str) -> None:
    assert parse_bool(value) is True


@pytest.mark.parametrize("value", [None, "", "0", "false", "No", "off"])
def test_parse_bool_false(value: str | None) -> None:
    assert parse_bool(value) is False


def test_parse_bool_rejects_junk() -> None:
    with pytest.raises(ValueError, match="SBIR_ETL_STRICT"):
        parse_bool("maybe", name="SBIR_ETL_STRICT")


def test_parse_date_formats_puts_user_formats_first() -> None:
    formats = parse_date_formats("%d.%m.%Y | %Y-%m-%d")
    assert formats[0] == "%d.%m.%Y"
    assert formats.count("%Y-%m-%d") == 1
    assert set(DEFAULT_DATE_FORMATS) <= set(formats)


def test_parse_date_formats_empty_is_default() -> None:
    assert parse_date_formats(None) == DEFAULT_DATE_FORMATS
    assert parse_date_formats(" | ") == DEFAULT_DATE_FORMATS


def test_settings_from_mapping() -> None:
    env = {"SBIR_ETL_STRICT": "yes", "SBIR_ETL_MIN_AWARD_YEAR": "2000"}
    assert settings_from_env(env) == Settings(True, DEFAULT_DATE_FORMATS, 2000)


def test_settings_defaults_from_empty_mapping() -> None:
    assert settings_from_env({}) == Settings()
    assert Settings().min_award_year == DEFAULT_MIN_AWARD_YEAR


def test_bad_min_year_is_reported() -> None:
    with pytest.raises(ValueError, match="SBIR_ETL_MIN_AWARD_YEAR"):
        settings_from_env({"SBIR_ETL_MIN_AWARD_YEAR": "soon"})


def test_get_settings_is_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().strict is False
    monkeypatch.setenv("SBIR_ETL_STRICT", "1")
    assert get_settings().strict is False  # still the cached value
    reset_settings()
    assert get_settings().strict is True


def test_environment_starts_clean_in_every_test() -> None:
    # The autouse isolation fixture removes SBIR_ETL_* and clears the cache.
    assert get_settings() == Settings()
    assert settings.get_settings.cache_info().currsize == 1
