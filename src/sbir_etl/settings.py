"""Runtime settings read from environment variables.

Settings are read once and cached; call :func:`reset_settings` after changing
the environment (the test suite does this around every test).

Recognised variables:

``SBIR_ETL_STRICT``
    ``1``/``true``/``yes``/``on`` turns on strict validation: rows without a
    UEI or a contract number are rejected instead of accepted.
``SBIR_ETL_DATE_FORMATS``
    ``strptime`` formats separated by ``|``, tried in order *before* the
    built-in formats when parsing award dates.
``SBIR_ETL_MIN_AWARD_YEAR``
    Earliest award year accepted (default 1983, the first SBIR awards).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

ENV_STRICT = "SBIR_ETL_STRICT"
ENV_DATE_FORMATS = "SBIR_ETL_DATE_FORMATS"
ENV_MIN_AWARD_YEAR = "SBIR_ETL_MIN_AWARD_YEAR"
ENV_VARS: tuple[str, ...] = (ENV_STRICT, ENV_DATE_FORMATS, ENV_MIN_AWARD_YEAR)

DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%Y/%m/%d",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%Y%m%d",
    "%Y-%m-%dT%H:%M:%S",
    "%m/%d/%Y %H:%M",
)
DEFAULT_MIN_AWARD_YEAR = 1983

_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off", "n"})


@dataclass(frozen=True, slots=True)
class Settings:
    """Immutable view of the environment-driven configuration."""

    strict: bool = False
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    min_award_year: int = DEFAULT_MIN_AWARD_YEAR


def parse_bool(value: str | None, *, name: str = "value") -> bool:
    """Interpret a boolean environment value, raising ``ValueError`` on junk."""
    word = (value or "").strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"{name}: cannot interpret {value!r} as a boolean")


def parse_date_formats(value: str | None) -> tuple[str, ...]:
    """Return user formats from ``value`` followed by the defaults, without repeats."""
    extra = [part.strip() for part in (value or "").split("|") if part.strip()]
    ordered: dict[str, None] = dict.fromkeys([*extra, *DEFAULT_DATE_FORMATS])
    return tuple(ordered)


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from a mapping (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    raw_year = env.get(ENV_MIN_AWARD_YEAR, "").strip()
    try:
        min_year = int(raw_year) if raw_year else DEFAULT_MIN_AWARD_YEAR
    except ValueError as exc:
        raise ValueError(f"{ENV_MIN_AWARD_YEAR}: not an integer: {raw_year!r}") from exc
    return Settings(
        strict=parse_bool(env.get(ENV_STRICT), name=ENV_STRICT),
        date_formats=parse_date_formats(env.get(ENV_DATE_FORMATS)),
        min_award_year=min_year,
    )


@functools.cache
def get_settings() -> Settings:
    """Return the cached settings for this process."""
    return settings_from_env()


def reset_settings() -> None:
    """Forget cached settings so the next :func:`get_settings` re-reads the environment."""
    get_settings.cache_clear()
