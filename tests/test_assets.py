"""Dagster assets, the asset check and the ``Definitions`` object."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from sbir_etl.agencies import UnknownAgencyError, normalize_agency
from sbir_etl.assets import (
    ALL_ASSETS,
    ALL_CHECKS,
    SbirEtlResource,
    agency_reference,
    clean_awards,
    raw_awards,
)
from sbir_etl.definitions import JOB_NAME, build_definitions, defs, resource_from_env
from sbir_etl.store import integrity_check, table_counts
from sbir_etl.synthetic import SyntheticDataset

DATASET_ROWS = 3_000
DATASET_SEED = 505


@pytest.fixture
def resource(module_dataset: SyntheticDataset, store_path: Path) -> SbirEtlResource:
    """Resource pointing at the module dataset and this test's own store."""
    return SbirEtlResource(
        awards_path=str(module_dataset.awards_path), store_path=str(store_path),
        transactions_path=str(module_dataset.transactions_path),
        agencies_path=str(module_dataset.agencies_path),
    )


def _metadata(result: object, key: str) -> dict[str, object]:
    [event] = result.asset_materializations_for_node(key)  # type: ignore[attr-defined]
    return {name: value.value for name, value in event.metadata.items()}


def test_full_materialization(
    resource: SbirEtlResource, dagster_instance: DagsterInstance, module_dataset: SyntheticDataset
) -> None:
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], instance=dagster_instance,
                         resources={"sbir": resource})
    assert result.success
    counts = result.output_for_node("sbir_store")
    assert counts["awards"] == module_dataset.unique
    assert counts["transactions"] == module_dataset.transactions
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]


def test_materialization_metadata(
    resource: SbirEtlResource, dagster_instance: DagsterInstance, module_dataset: SyntheticDataset
) -> None:
    result = materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": resource})
    raw = _metadata(result, "raw_awards")
    assert raw["rows_read"] == module_dataset.rows
    assert raw["rejected"] == module_dataset.dirty
    assert _metadata(result, "clean_awards")["duplicates"] == module_dataset.duplicates
    assert _metadata(result, "agency_reference")["aliases_registered"] > 0
    assert _metadata(result, "enriched_awards")["orphan_contracts"] == module_dataset.orphan_contracts


def test_rematerialization_is_idempotent(
    resource: SbirEtlResource, dagster_instance: DagsterInstance, store_path: Path
) -> None:
    first = materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": resource})
    counts = table_counts(store_path)
    second = materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": resource})
    assert first.success and second.success
    assert table_counts(store_path) == counts
    assert len(dagster_instance.get_runs()) == 2


def test_instance_is_fresh_per_test(dagster_instance: DagsterInstance) -> None:
    assert dagster_instance.get_runs() == []
    assert dagster_instance.get_latest_materialization_event(AssetKey("sbir_store")) is None


def test_materialization_recorded_on_instance(
    resource: SbirEtlResource, dagster_instance: DagsterInstance
) -> None:
    materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": resource})
    event = dagster_instance.get_latest_materialization_event(AssetKey("sbir_store"))
    assert event is not None


def test_subset_without_store(
    resource: SbirEtlResource, dagster_instance: DagsterInstance, store_path: Path
) -> None:
    result = materialize([agency_reference, raw_awards, clean_awards],
                         instance=dagster_instance, resources={"sbir": resource})
    assert result.success
    assert len(result.output_for_node("clean_awards").kept) > 0
    assert not store_path.exists()


def test_optional_inputs_may_be_omitted(
    module_dataset: SyntheticDataset, store_path: Path, dagster_instance: DagsterInstance
) -> None:
    bare = SbirEtlResource(awards_path=str(module_dataset.awards_path), store_path=str(store_path))
    result = materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": bare})
    assert result.success
    assert result.output_for_node("sbir_store")["transactions"] == 0
    assert integrity_check(store_path) == []


def test_agency_asset_registration_is_undone_after_test(
    resource: SbirEtlResource, dagster_instance: DagsterInstance
) -> None:
    materialize([agency_reference], instance=dagster_instance, resources={"sbir": resource})
    assert normalize_agency("Defense Department") == "DOD"  # alias from the reference file


def test_reference_aliases_absent_in_next_test() -> None:
    with pytest.raises(UnknownAgencyError):
        normalize_agency("Defense Department")


def test_store_failing_integrity_fails_the_run(
    resource: SbirEtlResource, dagster_instance: DagsterInstance, store_path: Path
) -> None:
    materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": resource})
    with sqlite3.connect(store_path) as conn:
        conn.execute("INSERT INTO companies(name_key, name) VALUES ('GHOST', 'Ghost')")
    conn.close()
    result = materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": resource},
                         raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "sbir_store"


def test_strict_resource_setting(
    module_dataset: SyntheticDataset, store_path: Path, dagster_instance: DagsterInstance
) -> None:
    strict = SbirEtlResource(awards_path=str(module_dataset.awards_path),
                             store_path=str(store_path), strict=True)
    result = materialize([agency_reference, raw_awards], instance=dagster_instance,
                         resources={"sbir": strict})
    assert len(result.output_for_node("raw_awards").rejects) == module_dataset.dirty


def test_definitions_are_loadable() -> None:
    assert isinstance(defs, Definitions)
    Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert keys == {a.key.to_user_string() for a in ALL_ASSETS}
    assert defs.resolve_job_def(JOB_NAME).name == JOB_NAME


def test_resource_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SBIR_ETL_AWARDS_PATH", str(tmp_path / "a.csv"))
    resource = resource_from_env()
    assert resource.awards_path == str(tmp_path / "a.csv")
    assert resource.store_path == "data/sbir.sqlite" and resource.transactions_path == ""


def test_resource_from_mapping() -> None:
    resource = resource_from_env({"SBIR_ETL_STORE_PATH": "x.sqlite"})
    assert resource.store_path == "x.sqlite"
    assert build_definitions(resource).resolve_job_def(JOB_NAME) is not None
