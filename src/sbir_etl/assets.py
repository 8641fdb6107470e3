"""The pipeline stages as Dagster assets, configured through one resource."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    ConfigurableResource,
    Failure,
    Output,
    asset,
    asset_check,
)

from .enrich import (
    EnrichResult,
    TransactionResult,
    enrich_awards,
    read_agency_reference,
    read_transactions,
    register_reference,
    summarize_transactions,
)
from .extract import ExtractResult, read_awards
from .graph import awards_per_agency_year, load_graph, open_store, top_companies
from .load import load_store
from .models import AgencyRef
from .store import integrity_check, table_counts
from .transform import DedupeResult, transform_records

GROUP = "sbir_etl"


class SbirEtlResource(ConfigurableResource):  # type: ignore[misc]
    """Paths of one pipeline run: inputs to read, the SQLite store to write,
    and the graph to load (none when ``graph_url`` is empty)."""

    awards_path: str
    store_path: str
    transactions_path: str = ""
    agencies_path: str = ""
    strict: bool | None = None
    graph_url: str = ""
    graph_name: str = "sbir"


@asset(group_name=GROUP)
def agency_reference(sbir: SbirEtlResource) -> Output[dict[str, AgencyRef]]:
    """Agency reference records; their aliases are registered for validation."""
    if not sbir.agencies_path:
        return Output({}, metadata={"agencies": 0, "aliases_registered": 0})
    agencies = read_agency_reference(sbir.agencies_path)
    added = register_reference(agencies.values())
    return Output(agencies, metadata={"agencies": len(agencies), "aliases_registered": added})


@asset(group_name=GROUP)
def raw_awards(
    sbir: SbirEtlResource, agency_reference: dict[str, AgencyRef]
) -> Output[ExtractResult]:
    """Validated award rows and the rejects, read from the awards CSV."""
    # Re-register in case this step runs in a fresh process (multiprocess executor).
    register_reference(agency_reference.values())
    result = read_awards(sbir.awards_path, strict=sbir.strict)
    return Output(result, metadata={
        "rows_read": result.rows_read,
        "rejected": len(result.rejects),
        "reject_reasons": result.reject_reasons(),
    })


@asset(group_name=GROUP)
def clean_awards(raw_awards: ExtractResult) -> Output[DedupeResult]:
    """Normalized, de-duplicated awards."""
    result = transform_records(raw_awards.records)
    return Output(result, metadata={"awards": len(result.kept), "duplicates": len(result.dropped)})


@asset(group_name=GROUP)
def contract_transactions(sbir: SbirEtlResource) -> Output[TransactionResult]:
    """Contract obligation transactions (empty when no file is configured)."""
    if not sbir.transactions_path:
        return Output(TransactionResult(), metadata={"transactions": 0, "rejected": 0})
    result = read_transactions(sbir.transactions_path)
    return Output(result, metadata={
        "transactions": len(result.transactions), "rejected": len(result.rejects),
    })


@asset(group_name=GROUP)
def enriched_awards(
    clean_awards: DedupeResult,
    agency_reference: dict[str, AgencyRef],
    contract_transactions: TransactionResult,
) -> Output[EnrichResult]:
    """Awards joined with agency names and contract obligation totals."""
    result = enrich_awards(
        clean_awards.kept,
        agencies=agency_reference,
        summaries=summarize_transactions(contract_transactions.transactions),
    )
    return Output(result, metadata={
        "awards": len(result.awards),
        "unmatched_awards": result.unmatched_awards,
        "orphan_contracts": len(result.orphan_contracts),
    })


@asset(group_name=GROUP)
def sbir_store(
    context: AssetExecutionContext,
    sbir: SbirEtlResource,
    enriched_awards: EnrichResult,
    contract_transactions: TransactionResult,
) -> Output[dict[str, int]]:
    """The SQLite store, loaded idempotently and integrity-checked."""
    load_store(sbir.store_path, enriched_awards.awards, enriched_awards.agencies,
               contract_transactions.transactions)
    problems = integrity_check(sbir.store_path)
    if problems:
        raise Failure(description="store failed its integrity check",
                      metadata={"problems": "\n".join(problems)})
    counts = table_counts(sbir.store_path)
    context.log.info("store %s loaded: %s", sbir.store_path, counts)
    return Output(counts, metadata={name: count for name, count in counts.items()})


@asset(group_name=GROUP)
def award_graph(
    context: AssetExecutionContext, sbir: SbirEtlResource, enriched_awards: EnrichResult,
) -> Output[dict[str, int]]:
    """Companies, awards, agencies and programmes merged into the graph ``graph_name``."""
    if not sbir.graph_url:
        return Output({}, metadata={"graph": "not configured (set graph_url)"})
    store = open_store(sbir.graph_url, sbir.graph_name)
    try:
        counts = load_graph(store, enriched_awards.awards)
        top = top_companies(store, 5)
        per_agency_year = awards_per_agency_year(store)
    finally:
        store.close()
    context.log.info("graph %s loaded: %s", sbir.graph_name, counts)
    return Output(counts, metadata={
        **counts,
        "top_companies": ", ".join(f"{c.name} ({c.total_cents / 100:,.2f})" for c in top),
        "agency_years": len(per_agency_year),
    })


@asset_check(asset=sbir_store, blocking=False)
def sbir_store_integrity(sbir: SbirEtlResource) -> AssetCheckResult:
    """Re-run the integrity check on the store as a Dagster asset check."""
    problems = integrity_check(sbir.store_path)
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": len(problems)},
        description="; ".join(problems) or "store is consistent",
    )


ALL_ASSETS = [
    agency_reference, raw_awards, clean_awards, contract_transactions, enriched_awards, sbir_store,
    award_graph,
]
ALL_CHECKS = [sbir_store_integrity]
