"""One place to capture and reset all module-level state of the package.

The package keeps three kinds of process-wide state: the agency alias
registry, the normalization caches and the cached environment settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import agencies, settings, transform


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """A copy of the mutable registries, restorable with :func:`restore_state`."""

    registry: tuple[dict[str, str], dict[str, str]]


def clear_caches() -> None:
    """Drop every cache (normalization and settings)."""
    transform.clear_caches()
    settings.reset_settings()


def snapshot_state() -> StateSnapshot:
    """Capture the current registries."""
    return StateSnapshot(registry=agencies.snapshot_registry())


def restore_state(snapshot: StateSnapshot) -> None:
    """Put back the registries from ``snapshot`` and clear all caches."""
    agencies.restore_registry(snapshot.registry)
    clear_caches()


def reset_state() -> None:
    """Return to a freshly imported package: built-in aliases, empty caches."""
    agencies.reset_registry()
    clear_caches()


def cache_sizes() -> dict[str, int]:
    """Report how many entries each cache currently holds."""
    return {
        "company_names": transform.normalize_company_name.cache_info().currsize,
        "agencies": agencies.normalize_agency.cache_info().currsize,
        "settings": settings.get_settings.cache_info().currsize,
    }
