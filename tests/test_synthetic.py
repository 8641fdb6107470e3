"""The seeded synthetic data generator."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sbir_etl.models import AWARD_COLUMNS
from sbir_etl.synthetic import SyntheticDataset, generate_dataset, write_manifest
from sbir_etl.transform import normalize_company_name

DATASET_ROWS = 10_000
DATASET_SEED = 808


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = generate_dataset(tmp_path / "a", 2_000, seed=5)
    b = generate_dataset(tmp_path / "b", 2_000, seed=5)
    for name in ("awards_path", "transactions_path", "agencies_path"):
        assert getattr(a, name).read_bytes() == getattr(b, name).read_bytes()
    assert a.manifest() == b.manifest()


def test_different_seed_different_data(tmp_path: Path) -> None:
    a = generate_dataset(tmp_path / "a", 500, seed=1)
    b = generate_dataset(tmp_path / "b", 500, seed=2)
    assert a.awards_path.read_bytes() != b.awards_path.read_bytes()


@pytest.mark.parametrize(
    ("rows", "dirty", "dups"), [(0, 0.05, 0.03), (1, 0.0, 0.0), (100, 0.1, 0.1), (1000, 0.0, 0.2),
                                (1000, 0.5, 0.0)]
)
def test_counts_add_up(tmp_path: Path, rows: int, dirty: float, dups: float) -> None:
    ds = generate_dataset(tmp_path, rows, seed=3, dirty_fraction=dirty, duplicate_fraction=dups)
    assert ds.unique + ds.duplicates + ds.dirty == rows
    assert ds.dirty == round(rows * dirty)
    assert sum(ds.dirty_reasons.values()) == ds.dirty
    assert len(_rows(ds.awards_path)) == rows


@pytest.mark.parametrize(("rows", "fraction"), [(-1, 0.1), (10, -0.1), (10, 1.01)])
def test_invalid_arguments(tmp_path: Path, rows: int, fraction: float) -> None:
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, rows, dirty_fraction=fraction)


def test_header_is_the_export_layout(module_dataset: SyntheticDataset) -> None:
    with module_dataset.awards_path.open(newline="") as handle:
        assert tuple(next(csv.reader(handle))) == AWARD_COLUMNS


def test_company_spellings_vary(module_dataset: SyntheticDataset) -> None:
    names = [row["Company"] for row in _rows(module_dataset.awards_path) if row["Company"]]
    by_key: dict[str, set[str]] = {}
    for name in names:
        by_key.setdefault(normalize_company_name(name), set()).add(name)
    assert max(len(v) for v in by_key.values()) > 1
    assert len(by_key) >= module_dataset.companies


def test_contracts_unique_except_duplicates(module_dataset: SyntheticDataset) -> None:
    contracts = [row["Contract"] for row in _rows(module_dataset.awards_path)]
    assert len(contracts) - len(set(contracts)) == module_dataset.duplicates


def test_transactions_reference_awards_or_orphans(module_dataset: SyntheticDataset) -> None:
    contracts = {row["Contract"] for row in _rows(module_dataset.awards_path)}
    tx = _rows(module_dataset.transactions_path)
    orphan = {t["contract"] for t in tx if t["contract"].startswith("ORPHAN-")}
    bad = [t for t in tx if t["action_date"] == "not-a-date"]
    known = [t for t in tx if t["contract"] in contracts]
    assert len(orphan) == module_dataset.orphan_contracts
    assert len(bad) == module_dataset.bad_transactions
    assert len(known) + len(orphan) == module_dataset.transactions


def test_agency_spellings_are_mixed(module_dataset: SyntheticDataset) -> None:
    spellings = {row["Agency"] for row in _rows(module_dataset.awards_path)}
    assert {"DOD", "Department of Defense", "NIH"} <= spellings


def test_agencies_file(module_dataset: SyntheticDataset) -> None:
    rows = _rows(module_dataset.agencies_path)
    assert {r["code"] for r in rows} >= {"DOD", "HHS", "NASA", "NSF", "DOE"}
    assert any(r["aliases"] for r in rows)


def test_manifest_has_file_names_only(small_dataset: SyntheticDataset, tmp_path: Path) -> None:
    path = write_manifest(small_dataset, tmp_path / "manifest.json")
    data = json.loads(path.read_text())
    assert data["awards_path"] == "awards.csv"
    assert data["rows"] == 400 and data["seed"] == 7
    assert str(tmp_path) not in path.read_text()
