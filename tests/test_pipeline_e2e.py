"""End to end: generated input through every stage into a store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sbir_etl.pipeline import PipelineResult, run_pipeline
from sbir_etl.store import integrity_check, table_counts
from sbir_etl.synthetic import SyntheticDataset, generate_dataset

DATASET_ROWS = 13_000
DATASET_SEED = 707


def _run(dataset: SyntheticDataset, store: Path, **kwargs: object) -> PipelineResult:
    return run_pipeline(dataset.awards_path, store, transactions_path=dataset.transactions_path,
                        agencies_path=dataset.agencies_path, **kwargs)  # type: ignore[arg-type]


def test_full_run_matches_manifest(module_dataset: SyntheticDataset, store_path: Path) -> None:
    result = _run(module_dataset, store_path)
    assert result.ok, result.problems
    assert (result.rows_read, result.rejected) == (module_dataset.rows, module_dataset.dirty)
    assert (result.duplicates, result.loaded) == (module_dataset.duplicates, module_dataset.unique)
    assert result.counts["companies"] == module_dataset.companies
    assert result.transactions_rejected == module_dataset.bad_transactions
    assert result.orphan_contracts == module_dataset.orphan_contracts
    assert dict(sorted(result.reject_reasons.items())) == module_dataset.dirty_reasons


def test_second_run_is_a_no_op(module_dataset: SyntheticDataset, store_path: Path) -> None:
    first = _run(module_dataset, store_path)
    second = _run(module_dataset, store_path)
    assert first.counts == second.counts
    assert second.ok


def test_rejects_file(module_dataset: SyntheticDataset, store_path: Path, tmp_path: Path) -> None:
    _run(module_dataset, store_path, rejects_path=tmp_path / "rejects.csv")
    lines = (tmp_path / "rejects.csv").read_text().splitlines()
    assert lines[0] == "line,reason,column,value"
    assert len(lines) - 1 == module_dataset.dirty


def test_awards_only_run(module_dataset: SyntheticDataset, store_path: Path) -> None:
    result = run_pipeline(module_dataset.awards_path, store_path)
    assert result.ok
    assert result.counts["transactions"] == 0
    assert result.unmatched_awards == module_dataset.unique


def test_company_keys_are_unique_in_store(module_dataset: SyntheticDataset,
                                          store_path: Path) -> None:
    _run(module_dataset, store_path)
    with sqlite3.connect(store_path) as conn:
        n, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT name_key) FROM companies"
                                   ).fetchone()
    conn.close()
    assert n == distinct == module_dataset.companies


def test_summary_lines(small_dataset: SyntheticDataset, store_path: Path) -> None:
    lines = _run(small_dataset, store_path).summary_lines()
    assert lines[0] == f"rows read: {small_dataset.rows}"
    assert lines[-1] == "integrity: ok"
    assert any(line.startswith("table awards: ") for line in lines)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_different_seeds_into_separate_stores(
    tmp_path: Path, worker_namespace: str, seed: int
) -> None:
    dataset = generate_dataset(tmp_path / f"seed{seed}", 4_000, seed=seed)
    store = tmp_path / f"run-{worker_namespace}-{seed}.sqlite"
    result = _run(dataset, store)
    assert result.ok and result.loaded == dataset.unique
    assert table_counts(store)["awards"] == dataset.unique


def test_two_datasets_accumulate_in_one_store(tmp_path: Path, store_path: Path) -> None:
    a = generate_dataset(tmp_path / "a", 3_000, seed=11)
    b = generate_dataset(tmp_path / "b", 3_000, seed=11)
    _run(a, store_path)
    again = _run(b, store_path)  # same seed: same awards, nothing new
    assert again.counts["awards"] == a.unique
    assert integrity_check(store_path) == []
