"""Dagster ``Definitions`` for the pipeline (``dagster dev -m sbir_etl.definitions``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from dagster import AssetSelection, Definitions, define_asset_job

from .assets import ALL_ASSETS, ALL_CHECKS, SbirEtlResource

JOB_NAME = "sbir_etl_job"
ENV_PATHS: dict[str, tuple[str, str]] = {
    "awards_path": ("SBIR_ETL_AWARDS_PATH", "data/awards.csv"),
    "store_path": ("SBIR_ETL_STORE_PATH", "data/sbir.sqlite"),
    "transactions_path": ("SBIR_ETL_TRANSACTIONS_PATH", ""),
    "agencies_path": ("SBIR_ETL_AGENCIES_PATH", ""),
    "graph_url": ("SBIR_ETL_GRAPH_URL", ""),
    "graph_name": ("SBIR_ETL_GRAPH_NAME", "sbir"),
}


def resource_from_env(environ: Mapping[str, str] | None = None) -> SbirEtlResource:
    """Build the resource from ``SBIR_ETL_*_PATH`` variables, with defaults."""
    env = os.environ if environ is None else environ
    return SbirEtlResource(**{key: env.get(var, default) for key, (var, default) in ENV_PATHS.items()})


def build_definitions(resource: SbirEtlResource) -> Definitions:
    """Return the assets, the integrity check and a job that materializes everything."""
    return Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=[define_asset_job(JOB_NAME, selection=AssetSelection.all())],
        resources={"sbir": resource},
    )


defs = build_definitions(resource_from_env())
