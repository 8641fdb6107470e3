"""Run all stages in order without Dagster (used by the CLI and end-to-end tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .enrich import (
    enrich_awards,
    read_agency_reference,
    read_transactions,
    register_reference,
    summarize_transactions,
)
from .extract import read_awards, write_rejects
from .load import load_store
from .models import AgencyRef, Transaction
from .store import integrity_check, table_counts
from .transform import transform_records


@dataclass(slots=True)
class PipelineResult:
    """Counters of one run plus the integrity problems found afterwards."""

    store_path: Path
    rows_read: int = 0
    rejected: int = 0
    duplicates: int = 0
    loaded: int = 0
    transactions_read: int = 0
    transactions_rejected: int = 0
    unmatched_awards: int = 0
    orphan_contracts: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the integrity check found nothing."""
        return not self.problems

    def summary_lines(self) -> list[str]:
        """Human-readable summary, one ``key: value`` per line."""
        lines = [
            f"rows read: {self.rows_read}",
            f"rejected: {self.rejected}",
            f"duplicates dropped: {self.duplicates}",
            f"loaded: {self.loaded}",
            f"transactions read: {self.transactions_read}",
            f"transactions rejected: {self.transactions_rejected}",
            f"awards without transactions: {self.unmatched_awards}",
            f"orphan contracts: {self.orphan_contracts}",
        ]
        lines += [f"  reject {reason}: {n}" for reason, n in self.reject_reasons.items()]
        lines += [f"table {name}: {n}" for name, n in self.counts.items()]
        lines.append("integrity: ok" if self.ok else f"integrity: FAILED ({len(self.problems)})")
        lines += [f"  problem: {problem}" for problem in self.problems]
        return lines


def run_pipeline(
    awards_path: str | Path,
    store_path: str | Path,
    *,
    transactions_path: str | Path | None = None,
    agencies_path: str | Path | None = None,
    strict: bool | None = None,
    rejects_path: str | Path | None = None,
) -> PipelineResult:
    """Extract, transform, enrich and load one awards file into ``store_path``.

    The agency reference (when given) is registered first so that its aliases
    are recognised during validation.
    """
    result = PipelineResult(store_path=Path(store_path))
    agencies: dict[str, AgencyRef] = {}
    if agencies_path is not None:
        agencies = read_agency_reference(agencies_path)
        register_reference(agencies.values())
    extracted = read_awards(awards_path, strict=strict)
    result.rows_read, result.rejected = extracted.rows_read, len(extracted.rejects)
    result.reject_reasons = extracted.reject_reasons()
    if rejects_path is not None:
        write_rejects(extracted.rejects, rejects_path)
    deduped = transform_records(extracted.records)
    result.duplicates = len(deduped.dropped)
    transactions: list[Transaction] = []
    if transactions_path is not None:
        tx_result = read_transactions(transactions_path)
        transactions = tx_result.transactions
        result.transactions_read = len(transactions)
        result.transactions_rejected = len(tx_result.rejects)
    enriched = enrich_awards(
        deduped.kept, agencies=agencies, summaries=summarize_transactions(transactions)
    )
    result.unmatched_awards = enriched.unmatched_awards
    result.orphan_contracts = len(enriched.orphan_contracts)
    load_store(store_path, enriched.awards, enriched.agencies, transactions)
    result.loaded = len(enriched.awards)
    result.counts = table_counts(store_path)
    result.problems = integrity_check(store_path)
    return result
