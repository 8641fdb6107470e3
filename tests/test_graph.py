"""The graph stage against a real FalkorDB server, one graph per test or module and worker."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import pytest
from dagster import DagsterInstance, materialize

from sbir_etl import graph, state
from sbir_etl.assets import ALL_ASSETS, SbirEtlResource
from sbir_etl.definitions import resource_from_env
from sbir_etl.enrich import (
    enrich_awards,
    read_agency_reference,
    read_transactions,
    register_reference,
    summarize_transactions,
)
from sbir_etl.extract import read_awards
from sbir_etl.graph import (
    GraphError,
    GraphStore,
    awards_per_agency_year,
    company_agencies,
    graph_counts,
    graph_rows,
    load_graph,
    open_store,
    top_companies,
)
from sbir_etl.graph_server import free_port
from sbir_etl.load import to_cents
from sbir_etl.models import Award, EnrichedAward
from sbir_etl.synthetic import SyntheticDataset
from sbir_etl.transform import transform_records

DATASET_ROWS = 1_500
DATASET_SEED = 1701

EMPTY = {"Company": 0, "Award": 0, "Agency": 0, "Program": 0, "WON": 0, "FUNDED_BY": 0, "UNDER": 0}


def _award(key: str, company: str = "ACME", agency: str = "DOD", amount: str = "100000.00",
           year: int = 2020, program: str = "SBIR", **extra: object) -> EnrichedAward:
    fields: dict[str, object] = {
        "award_key": key, "company_key": company, "company_name": company.title(),
        "agency_code": agency, "phase": "I", "program": program, "amount": Decimal(amount),
        "award_date": date(year, 5, 1), "award_year": year, **extra,
    }
    return EnrichedAward(Award(**fields), {"DOD": "Department of Defense",  # type: ignore[arg-type]
                                           "NSF": "National Science Foundation"}.get(agency, ""))


SMALL = [
    _award("A1", "ACME", "DOD", "150000.00", 2019),
    _award("A2", "ACME", "NSF", "50000.00", 2020),
    _award("A3", "BOLT", "DOD", "200000.00", 2020, program="STTR"),
]


def _enriched(dataset: SyntheticDataset) -> list[EnrichedAward]:
    # Module-scoped callers run outside the per-test state isolation: restore it here.
    snapshot = state.snapshot_state()
    try:
        refs = read_agency_reference(dataset.agencies_path)
        register_reference(refs.values())
        kept = transform_records(read_awards(dataset.awards_path).records).kept
        tx = read_transactions(dataset.transactions_path).transactions
        return enrich_awards(kept, agencies=refs, summaries=summarize_transactions(tx)).awards
    finally:
        state.restore_state(snapshot)


@pytest.fixture(scope="module")
def dataset_awards(module_dataset: SyntheticDataset) -> list[EnrichedAward]:
    return _enriched(module_dataset)


@pytest.fixture(scope="module")
def loaded(module_graph: GraphStore, dataset_awards: list[EnrichedAward]) -> GraphStore:
    """The module's graph, loaded once from the module's dataset; tests only read it."""
    load_graph(module_graph, dataset_awards)
    return module_graph


# --- one fresh graph per test -------------------------------------------------------


def test_load_counts_nodes_and_relationships(graph_store: GraphStore) -> None:
    counts = load_graph(graph_store, SMALL)
    assert counts == {"Company": 2, "Award": 3, "Agency": 2, "Program": 2,
                      "WON": 3, "FUNDED_BY": 3, "UNDER": 3}


def test_loading_twice_changes_nothing(graph_store: GraphStore) -> None:
    first = load_graph(graph_store, SMALL)
    assert load_graph(graph_store, SMALL) == first


def test_reload_updates_properties_in_place(graph_store: GraphStore) -> None:
    load_graph(graph_store, SMALL)
    load_graph(graph_store, [_award("A1", "ACME", "DOD", "175000.00", 2019)])
    assert graph_store.run("MATCH (w:Award {key: 'A1'}) RETURN w.amount_cents") == [(17_500_000,)]
    assert graph_counts(graph_store)["Award"] == 3


def test_a_reassigned_award_keeps_one_link_of_each_kind(graph_store: GraphStore) -> None:
    load_graph(graph_store, SMALL)
    load_graph(graph_store, [_award("A1", "BOLT", "NSF", "150000.00", 2019, program="STTR")])
    assert company_agencies(graph_store, "ACME") == ["NSF"]
    assert [(c.name, c.awards) for c in top_companies(graph_store)] == [("Bolt", 2), ("Acme", 1)]
    assert graph_counts(graph_store)["WON"] == 3


def test_companies_of_the_same_name_are_counted_apart(graph_store: GraphStore) -> None:
    same = [_award("S1", "ACME-OH", company_name="Acme"), _award("S2", "ACME-CA", company_name="Acme")]
    load_graph(graph_store, same)
    assert [c.awards for c in top_companies(graph_store)] == [1, 1]


def test_lookup_keys_are_indexed(graph_store: GraphStore) -> None:
    load_graph(graph_store, SMALL)
    load_graph(graph_store, SMALL)  # indexing again keeps the index
    plan = graph_store.run("MATCH (c:Company {key: 'ACME'}) RETURN c.name")
    assert plan == [("Acme",)]
    indexed = {row[0] for row in graph_store.run("CALL db.indexes() YIELD label RETURN label")}
    assert set(graph.LABELS) <= indexed


def test_empty_load_leaves_an_empty_graph(graph_store: GraphStore) -> None:
    assert load_graph(graph_store, []) == EMPTY


def test_top_companies_by_total_amount(graph_store: GraphStore) -> None:
    load_graph(graph_store, SMALL)
    top = top_companies(graph_store, 10)
    assert [(c.name, c.total_cents, c.awards) for c in top] == [
        ("Acme", 20_000_000, 2), ("Bolt", 20_000_000, 1)]


def test_top_companies_ties_are_ordered_by_name(graph_store: GraphStore) -> None:
    load_graph(graph_store, [_award("X1", "ZETA", amount="10.00"), _award("X2", "ALFA", amount="10.00")])
    assert [c.name for c in top_companies(graph_store)] == ["Alfa", "Zeta"]


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_top_companies_limit(graph_store: GraphStore, limit: int) -> None:
    load_graph(graph_store, [_award(f"L{i}", f"CO{i}", amount=f"{i}000.00") for i in range(1, 5)])
    top = top_companies(graph_store, limit)
    assert len(top) == min(limit, 4)
    assert top[0].name == "Co4"


def test_top_companies_rejects_a_limit_below_one(graph_store: GraphStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        top_companies(graph_store, 0)


def test_awards_per_agency_and_year(graph_store: GraphStore) -> None:
    load_graph(graph_store, SMALL)
    assert awards_per_agency_year(graph_store) == {
        ("DOD", 2019): (1, 15_000_000), ("DOD", 2020): (1, 20_000_000), ("NSF", 2020): (1, 5_000_000)}


def test_company_agencies(graph_store: GraphStore) -> None:
    load_graph(graph_store, SMALL)
    assert company_agencies(graph_store, "ACME") == ["DOD", "NSF"]
    assert company_agencies(graph_store, "BOLT") == ["DOD"]
    assert company_agencies(graph_store, "NOBODY") == []


def test_programs_are_shared_nodes(graph_store: GraphStore) -> None:
    load_graph(graph_store, SMALL)
    rows = graph_store.run("MATCH (w:Award)-[:UNDER]->(p:Program) RETURN p.name, count(w) ORDER BY p.name")
    assert rows == [("SBIR", 2), ("STTR", 1)]


def test_load_in_batches(graph_store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "BATCH", 7)
    awards = [_award(f"B{i}", f"CO{i % 13}", year=2010 + i % 5) for i in range(60)]
    counts = load_graph(graph_store, awards)
    assert (counts["Award"], counts["Company"], counts["WON"]) == (60, 13, 60)


def test_drop_removes_the_graph_and_tolerates_a_missing_one(graph_store: GraphStore) -> None:
    load_graph(graph_store, SMALL)
    graph_store.drop()
    graph_store.drop()
    assert graph_counts(graph_store) == EMPTY


def test_graphs_are_isolated(graph_store: GraphStore, graph_url: str, graph_name: str) -> None:
    other = open_store(graph_url, graph_name + "-other")
    try:
        load_graph(other, SMALL)
        assert graph_counts(graph_store) == EMPTY
    finally:
        other.drop()
        other.close()


def test_a_bad_statement_is_a_graph_error(graph_store: GraphStore) -> None:
    with pytest.raises(GraphError, match=graph_store.name):
        graph_store.run("MATCH (n RETURN n")


def test_graph_name_carries_run_and_worker(graph_name: str, worker_namespace: str) -> None:
    assert f"-{worker_namespace}-" in graph_name
    run = os.environ.get("SBIR_GRAPH_RUN")
    assert run is None or f"sbir-test-{run}-" in graph_name


def test_award_graph_asset(graph_url: str, graph_name: str, dagster_instance: DagsterInstance,
                           small_dataset: SyntheticDataset, tmp_path) -> None:
    resource = SbirEtlResource(
        awards_path=str(small_dataset.awards_path), store_path=str(tmp_path / "s.sqlite"),
        agencies_path=str(small_dataset.agencies_path), graph_url=graph_url, graph_name=graph_name)
    try:
        result = materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": resource})
        counts = result.output_for_node("award_graph")
        assert counts["Award"] == result.output_for_node("sbir_store")["awards"]
        assert counts["Company"] == result.output_for_node("sbir_store")["companies"]
    finally:
        store = open_store(graph_url, graph_name)
        store.drop()
        store.close()


def test_award_graph_asset_without_a_graph(dagster_instance: DagsterInstance,
                                           small_dataset: SyntheticDataset, tmp_path) -> None:
    resource = SbirEtlResource(awards_path=str(small_dataset.awards_path),
                               store_path=str(tmp_path / "s.sqlite"))
    result = materialize(ALL_ASSETS, instance=dagster_instance, resources={"sbir": resource})
    assert result.output_for_node("award_graph") == {}


# --- no server needed ---------------------------------------------------------------


def test_rows_merge_companies_and_fill_gaps() -> None:
    rows = graph_rows([_award("R1", "ACME"), _award("R2", "ACME", uei="UEI42", state="OH")])
    assert rows.companies == [{"key": "ACME", "name": "Acme", "uei": "UEI42", "state": "OH"}]
    assert [r["key"] for r in rows.awards] == ["R1", "R2"]


def test_rows_name_an_unknown_agency_by_its_code() -> None:
    assert graph_rows([_award("R1", agency="XYZ")]).agencies == [{"code": "XYZ", "name": "XYZ"}]


def test_rows_keep_amounts_in_cents() -> None:
    assert graph_rows([_award("R1", amount="1234.56")]).awards[0]["amount_cents"] == 123_456


@pytest.mark.parametrize("url", ["http://localhost:1", "localhost:6379", "mysql://db/x"])
def test_unknown_url_schemes_are_refused(url: str) -> None:
    with pytest.raises(GraphError, match="scheme"):
        open_store(url, "g")


def test_a_graph_needs_a_name() -> None:
    with pytest.raises(GraphError, match="name"):
        open_store(f"redis://127.0.0.1:{free_port()}", "")


def test_an_unreachable_server_is_a_graph_error() -> None:
    with pytest.raises(GraphError, match="cannot open .*refused"):
        open_store(f"redis://127.0.0.1:{free_port()}", "nowhere")


def test_resource_reads_the_graph_from_the_environment() -> None:
    resource = resource_from_env({"SBIR_ETL_GRAPH_URL": "redis://g:1", "SBIR_ETL_GRAPH_NAME": "prod"})
    assert (resource.graph_url, resource.graph_name) == ("redis://g:1", "prod")
    assert resource_from_env({}).graph_url == ""


# --- one graph per module, loaded once and only read -----------------------------------


def test_module_graph_counts_match_the_awards(loaded: GraphStore,
                                              dataset_awards: list[EnrichedAward]) -> None:
    counts = graph_counts(loaded)
    assert counts["Award"] == len({a.award.award_key for a in dataset_awards})
    assert counts["Company"] == len({a.award.company_key for a in dataset_awards})
    assert counts["Agency"] == len({a.award.agency_code for a in dataset_awards})


@pytest.mark.parametrize("rel", ["WON", "FUNDED_BY", "UNDER"])
def test_every_award_has_exactly_one(loaded: GraphStore, rel: str) -> None:
    direction = "<-" if rel == "WON" else "-"
    arrow = "-" if rel == "WON" else "->"
    rows = loaded.run(f"MATCH (w:Award) OPTIONAL MATCH (w){direction}[r:{rel}]{arrow}() "
                      "WITH w, count(r) AS n WHERE n <> 1 RETURN count(w)")
    assert rows == [(0,)]


def test_module_graph_total_amount(loaded: GraphStore, dataset_awards: list[EnrichedAward]) -> None:
    expected = sum(to_cents(a.award.amount) or 0 for a in dataset_awards)
    assert loaded.run("MATCH (w:Award) RETURN sum(w.amount_cents)") == [(expected,)]


def test_module_graph_top_company(loaded: GraphStore, dataset_awards: list[EnrichedAward]) -> None:
    totals: Counter[str] = Counter()
    for item in dataset_awards:
        totals[item.award.company_key] += to_cents(item.award.amount) or 0
    best = top_companies(loaded, 1)[0]
    assert best.total_cents == max(totals.values())


def test_module_graph_per_agency_year(loaded: GraphStore, dataset_awards: list[EnrichedAward]) -> None:
    expected: defaultdict[tuple[str, int], int] = defaultdict(int)
    for item in dataset_awards:
        expected[(item.award.agency_code, item.award.award_year)] += 1
    got = awards_per_agency_year(loaded)
    assert {key: count for key, (count, _) in got.items()} == dict(expected)


def test_module_graph_has_no_orphan_companies(loaded: GraphStore) -> None:
    assert loaded.run("MATCH (c:Company) WHERE NOT (c)-[:WON]->() RETURN count(c)") == [(0,)]
