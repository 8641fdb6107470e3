"""Agency alias registry: maps the many spellings of an agency to a canonical code.

The registry is module-level state. It starts with the built-in aliases and can
be extended at runtime with :func:`register_agency_alias` (the enrich stage
registers aliases found in the agency reference file). Use
:func:`snapshot_registry` / :func:`restore_registry` to undo changes.
"""

from __future__ import annotations

import functools
import re

CANONICAL_AGENCIES: dict[str, str] = {
    "DOD": "Department of Defense",
    "HHS": "Department of Health and Human Services",
    "NASA": "National Aeronautics and Space Administration",
    "NSF": "National Science Foundation",
    "DOE": "Department of Energy",
    "USDA": "Department of Agriculture",
    "DHS": "Department of Homeland Security",
    "DOT": "Department of Transportation",
    "DOC": "Department of Commerce",
    "ED": "Department of Education",
    "EPA": "Environmental Protection Agency",
}

_BUILTIN_ALIASES: dict[str, str] = {
    "DEFENSE": "DOD",
    "DEPARTMENT OF DEFENSE": "DOD",
    "DOD": "DOD",
    "HEALTH AND HUMAN SERVICES": "HHS",
    "DEPARTMENT OF HEALTH AND HUMAN SERVICES": "HHS",
    "NIH": "HHS",
    "NATIONAL AERONAUTICS AND SPACE ADMINISTRATION": "NASA",
    "NATIONAL SCIENCE FOUNDATION": "NSF",
    "DEPARTMENT OF ENERGY": "DOE",
    "ENERGY": "DOE",
    "DEPARTMENT OF AGRICULTURE": "USDA",
    "AGRICULTURE": "USDA",
    "DEPARTMENT OF HOMELAND SECURITY": "DHS",
    "HOMELAND SECURITY": "DHS",
    "DEPARTMENT OF TRANSPORTATION": "DOT",
    "TRANSPORTATION": "DOT",
    "DEPARTMENT OF COMMERCE": "DOC",
    "COMMERCE": "DOC",
    "NOAA": "DOC",
    "NIST": "DOC",
    "DEPARTMENT OF EDUCATION": "ED",
    "EDUCATION": "ED",
    "ENVIRONMENTAL PROTECTION AGENCY": "EPA",
}

_aliases: dict[str, str] = {}
_extra_agencies: dict[str, str] = {}

_NON_WORD = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")


class UnknownAgencyError(ValueError):
    """Raised when an agency spelling has no registered alias."""


def alias_key(name: str) -> str:
    """Reduce an agency spelling to the key used for alias look-ups."""
    text = name.upper().replace("&", " AND ").replace(".", "")
    text = _NON_WORD.sub(" ", text)
    text = re.sub(r"\bDEPT\b", "DEPARTMENT", text)
    text = re.sub(r"^(U ?S|UNITED STATES) ", "", _SPACES.sub(" ", text).strip())
    return text


def _install_builtins() -> None:
    _aliases.clear()
    _extra_agencies.clear()
    for code in CANONICAL_AGENCIES:
        _aliases[alias_key(code)] = code
    for alias, code in _BUILTIN_ALIASES.items():
        _aliases[alias_key(alias)] = code


def known_codes() -> dict[str, str]:
    """Return every canonical code with its full name, including registered ones."""
    return {**CANONICAL_AGENCIES, **_extra_agencies}


def register_agency(code: str, name: str) -> None:
    """Add a new canonical agency code (idempotent for the same name)."""
    code = code.strip().upper()
    if not code:
        raise ValueError("agency code must not be empty")
    if code not in CANONICAL_AGENCIES:
        _extra_agencies.setdefault(code, name)
    _aliases.setdefault(alias_key(code), code)
    _aliases.setdefault(alias_key(name), code)
    normalize_agency.cache_clear()


def register_agency_alias(alias: str, code: str) -> None:
    """Map ``alias`` to the canonical ``code``; the code must already be known."""
    code = code.strip().upper()
    if code not in known_codes():
        raise UnknownAgencyError(f"unknown agency code {code!r}")
    key = alias_key(alias)
    if not key:
        raise ValueError("alias must contain letters or digits")
    _aliases[key] = code
    normalize_agency.cache_clear()


@functools.lru_cache(maxsize=4096)
def normalize_agency(name: str) -> str:
    """Return the canonical code for an agency spelling or raise :class:`UnknownAgencyError`."""
    key = alias_key(name)
    try:
        return _aliases[key]
    except KeyError:
        raise UnknownAgencyError(f"unknown agency {name!r}") from None


def agency_name(code: str) -> str:
    """Return the full name of a canonical code (the code itself when unknown)."""
    return known_codes().get(code, code)


def snapshot_registry() -> tuple[dict[str, str], dict[str, str]]:
    """Copy the registry so it can be restored later."""
    return dict(_aliases), dict(_extra_agencies)


def restore_registry(snapshot: tuple[dict[str, str], dict[str, str]]) -> None:
    """Put back a registry captured with :func:`snapshot_registry`."""
    aliases, extra = snapshot
    _aliases.clear()
    _aliases.update(aliases)
    _extra_agencies.clear()
    _extra_agencies.update(extra)
    normalize_agency.cache_clear()


def reset_registry() -> None:
    """Return the registry to the built-in aliases only."""
    _install_builtins()
    normalize_agency.cache_clear()


_install_builtins()
