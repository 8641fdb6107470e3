"""Capturing and resetting the package's module-level state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sbir_etl import state
from sbir_etl.agencies import UnknownAgencyError, normalize_agency, register_agency_alias
from sbir_etl.settings import get_settings
from sbir_etl.transform import normalize_company_name


def test_cache_sizes_start_at_zero() -> None:
    assert state.cache_sizes() == {"company_names": 0, "agencies": 0, "settings": 0}


def test_clear_caches_empties_everything() -> None:
    normalize_company_name("Acme Inc")
    normalize_agency("NASA")
    get_settings()
    assert all(state.cache_sizes().values())
    state.clear_caches()
    assert not any(state.cache_sizes().values())


def test_snapshot_restore_round_trip() -> None:
    snap = state.snapshot_state()
    register_agency_alias("Rocket Office", "NASA")
    assert normalize_agency("Rocket Office") == "NASA"
    state.restore_state(snap)
    with pytest.raises(UnknownAgencyError):
        normalize_agency("Rocket Office")


def test_reset_state_returns_to_builtins() -> None:
    builtin_aliases, _ = state.agencies.snapshot_registry()
    register_agency_alias("Rocket Office", "NASA")
    state.reset_state()
    assert state.snapshot_state() == state.StateSnapshot(registry=(builtin_aliases, {}))
    with pytest.raises(UnknownAgencyError):
        normalize_agency("Rocket Office")


INNER_CONFTEST = """
import pytest
from sbir_etl import state

@pytest.fixture(autouse=True)
def _isolate():
    snapshot = state.snapshot_state()
    yield
    state.restore_state(snapshot)
"""
INNER_TESTS = """
import pytest
from sbir_etl.agencies import UnknownAgencyError, normalize_agency, register_agency_alias

def test_a_registers_then_fails():
    register_agency_alias("Leaky Office", "DOD")
    assert normalize_agency("Leaky Office") == "NASA"

def test_b_sees_no_leak():
    with pytest.raises(UnknownAgencyError):
        normalize_agency("Leaky Office")
"""


def test_state_is_restored_after_a_failing_test(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "test_inner.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 1 passed" in proc.stdout
