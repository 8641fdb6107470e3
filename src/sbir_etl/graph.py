"""The graph stage: companies, awards, agencies and programmes as a property graph.

``(:Company)-[:WON]->(:Award)-[:FUNDED_BY]->(:Agency)`` and
``(:Award)-[:UNDER]->(:Program)``, loaded idempotently with Cypher ``MERGE``.

Everything here speaks Cypher through :class:`GraphStore`, so the backend is a
configuration choice: a URL ``redis://host:port`` (or ``falkor://``) opens a
FalkorDB graph, ``bolt://`` or ``neo4j://`` a Neo4j database (needs the
``neo4j`` extra). The graph name selects one graph on a FalkorDB server and
one database on a Neo4j server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from .load import to_cents
from .models import EnrichedAward

# Rows per UNWIND statement: large enough to keep round trips few, small
# enough to keep one statement's parameters modest.
BATCH = 500

# Node labels the stage writes, in the order counts are reported.
LABELS: tuple[str, ...] = ("Company", "Award", "Agency", "Program")
RELATIONSHIPS: tuple[str, ...] = ("WON", "FUNDED_BY", "UNDER")

MERGE_AGENCIES = """
UNWIND $rows AS r
MERGE (a:Agency {code: r.code})
SET a.name = r.name
"""

MERGE_PROGRAMS = """
UNWIND $rows AS r
MERGE (:Program {name: r.name})
"""

MERGE_COMPANIES = """
UNWIND $rows AS r
MERGE (c:Company {key: r.key})
SET c.name = r.name, c.uei = r.uei, c.state = r.state
"""

# An award whose company, agency or programme changed loses its old links first.
UNLINK_AWARDS = """
UNWIND $rows AS r
MATCH (w:Award {key: r.key})-[old]-()
WHERE type(old) IN ['WON', 'FUNDED_BY', 'UNDER']
DELETE old
"""

MERGE_AWARDS = """
UNWIND $rows AS r
MATCH (c:Company {key: r.company})
MATCH (a:Agency {code: r.agency})
MATCH (p:Program {name: r.program})
MERGE (w:Award {key: r.key})
SET w.amount_cents = r.amount_cents, w.year = r.year, w.phase = r.phase, w.title = r.title
MERGE (c)-[:WON]->(w)
MERGE (w)-[:FUNDED_BY]->(a)
MERGE (w)-[:UNDER]->(p)
"""

TOP_COMPANIES = """
MATCH (c:Company)-[:WON]->(w:Award)
WITH c, sum(w.amount_cents) AS total, count(w) AS awards
RETURN c.name, total, awards
ORDER BY total DESC, c.name, c.key
LIMIT $limit
"""

# The keys every MERGE and MATCH looks nodes up by.
INDEXES: tuple[tuple[str, str], ...] = (
    ("Company", "key"), ("Award", "key"), ("Agency", "code"), ("Program", "name"),
)

AWARDS_PER_AGENCY_YEAR = """
MATCH (w:Award)-[:FUNDED_BY]->(a:Agency)
RETURN a.code, w.year, count(w) AS awards, sum(w.amount_cents) AS total
ORDER BY a.code, w.year
"""

COMPANY_AGENCIES = """
MATCH (:Company {key: $key})-[:WON]->(:Award)-[:FUNDED_BY]->(a:Agency)
RETURN DISTINCT a.code
ORDER BY a.code
"""


class GraphError(Exception):
    """The graph store is unreachable or refused a statement."""


class GraphStore(Protocol):
    """One named graph on a graph server, spoken to in Cypher."""

    name: str

    def run(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows."""

    def index(self, label: str, prop: str) -> None:
        """Make sure ``(:label).prop`` is indexed (an existing index is kept)."""

    def drop(self) -> None:
        """Delete everything in this graph (a missing graph is not an error)."""

    def close(self) -> None:
        """Release the connection."""


class FalkorStore:
    """A FalkorDB graph: one key on a Redis server with the FalkorDB module."""

    def __init__(self, url: str, name: str) -> None:
        from falkordb import FalkorDB
        from redis.exceptions import RedisError

        self.name = name
        self._errors: tuple[type[Exception], ...] = (RedisError,)
        try:
            self._db = FalkorDB.from_url(url)
        except self._errors as error:
            raise GraphError(f"cannot open {url}: {error}") from error
        self._graph = self._db.select_graph(name)

    def run(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            result = self._graph.query(cypher, dict(params or {}))
        except self._errors as error:
            raise GraphError(f"graph {self.name!r}: {error}") from error
        return [tuple(row) for row in result.result_set]

    def index(self, label: str, prop: str) -> None:
        try:
            self.run(f"CREATE INDEX FOR (n:{label}) ON (n.{prop})")
        except GraphError as error:
            if "already indexed" not in str(error):
                raise

    def drop(self) -> None:
        try:
            if self.name in self._db.list_graphs():
                self._graph.delete()
        except self._errors as error:
            raise GraphError(f"cannot drop graph {self.name!r}: {error}") from error

    def close(self) -> None:
        self._db.close()


class Neo4jStore:
    """A Neo4j database, one per graph name: the server must allow creating databases
    (Neo4j Enterprise; Community Edition has a single database)."""

    def __init__(self, url: str, name: str, auth: tuple[str, str] | None = None) -> None:
        try:
            import neo4j
        except ImportError as error:  # pragma: no cover - the extra is optional
            raise GraphError("the Neo4j backend needs the `neo4j` extra: pip install 'sbir-etl[neo4j]'") from error
        self.name = name
        self._errors: tuple[type[Exception], ...] = (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError)
        self._driver = neo4j.GraphDatabase.driver(url, auth=auth)
        try:
            self._driver.execute_query(
                "CREATE DATABASE $name IF NOT EXISTS WAIT", {"name": name}, database_="system"
            )
        except self._errors as error:  # pragma: no cover - needs a Neo4j server
            self._driver.close()
            raise GraphError(f"cannot create database {name!r} on {url}: {error}") from error

    def run(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            records, _, _ = self._driver.execute_query(cypher, dict(params or {}), database_=self.name)
        except self._errors as error:  # pragma: no cover - needs a Neo4j server
            raise GraphError(f"database {self.name!r}: {error}") from error
        return [tuple(record.values()) for record in records]

    def index(self, label: str, prop: str) -> None:
        self.run(f"CREATE INDEX IF NOT EXISTS FOR (n:{label}) ON (n.{prop})")

    def drop(self) -> None:
        try:
            self._driver.execute_query("DROP DATABASE $name IF EXISTS", {"name": self.name}, database_="system")
        except self._errors as error:  # pragma: no cover - needs a Neo4j server
            raise GraphError(f"cannot drop database {self.name!r}: {error}") from error

    def close(self) -> None:
        self._driver.close()


def open_store(url: str, name: str, *, auth: tuple[str, str] | None = None) -> GraphStore:
    """The graph ``name`` on the server at ``url``; the scheme picks the backend."""
    if not name:
        raise GraphError("a graph needs a name")
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "falkor", "falkors", "unix"):
        return FalkorStore(url, name)
    if scheme in ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"):
        return Neo4jStore(url, name, auth)
    raise GraphError(f"unknown graph URL scheme {scheme!r} in {url!r}: use redis:// (FalkorDB) or bolt:// (Neo4j)")


@dataclass(frozen=True, slots=True)
class GraphRows:
    """The parameter rows of one load, grouped by statement."""

    agencies: list[dict[str, Any]]
    programs: list[dict[str, Any]]
    companies: list[dict[str, Any]]
    awards: list[dict[str, Any]]


def graph_rows(awards: Iterable[EnrichedAward]) -> GraphRows:
    """Parameter rows for the MERGE statements; one row per distinct node."""
    agencies: dict[str, str] = {}
    programs: set[str] = set()
    companies: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for item in awards:
        award = item.award
        agencies.setdefault(award.agency_code, item.agency_name or award.agency_code)
        programs.add(award.program)
        company = companies.setdefault(award.company_key, {
            "key": award.company_key, "name": award.company_name, "uei": "", "state": "",
        })
        company["uei"] = company["uei"] or award.uei
        company["state"] = company["state"] or award.state
        rows[award.award_key] = {
            "key": award.award_key,
            "company": award.company_key,
            "agency": award.agency_code,
            "program": award.program,
            "amount_cents": to_cents(award.amount) or 0,
            "year": award.award_year,
            "phase": award.phase,
            "title": award.title,
        }
    return GraphRows(
        agencies=[{"code": code, "name": name} for code, name in sorted(agencies.items())],
        programs=[{"name": name} for name in sorted(programs)],
        companies=[companies[key] for key in sorted(companies)],
        awards=[rows[key] for key in sorted(rows)],
    )


def _batches(rows: Sequence[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield list(rows[start:start + BATCH])


def load_graph(store: GraphStore, awards: Iterable[EnrichedAward]) -> dict[str, int]:
    """Merge the awards into the graph (idempotent); return the graph's counts."""
    rows = graph_rows(awards)
    for label, prop in INDEXES:
        store.index(label, prop)
    for statement, group in (
        (MERGE_AGENCIES, rows.agencies),
        (MERGE_PROGRAMS, rows.programs),
        (MERGE_COMPANIES, rows.companies),
        (UNLINK_AWARDS, rows.awards),
        (MERGE_AWARDS, rows.awards),
    ):
        for batch in _batches(group):
            store.run(statement, {"rows": batch})
    return graph_counts(store)


def graph_counts(store: GraphStore) -> dict[str, int]:
    """Nodes per label and relationships per type."""
    counts: dict[str, int] = {}
    for label in LABELS:
        counts[label] = store.run(f"MATCH (n:{label}) RETURN count(n)")[0][0]
    for rel in RELATIONSHIPS:
        counts[rel] = store.run(f"MATCH ()-[r:{rel}]->() RETURN count(r)")[0][0]
    return counts


@dataclass(frozen=True, slots=True)
class CompanyTotal:
    """A company's awards summed."""

    name: str
    total_cents: int
    awards: int


def top_companies(store: GraphStore, limit: int = 10) -> list[CompanyTotal]:
    """Companies by total award amount, largest first (ties by name)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return [CompanyTotal(name, int(total), int(count))
            for name, total, count in store.run(TOP_COMPANIES, {"limit": limit})]


def awards_per_agency_year(store: GraphStore) -> dict[tuple[str, int], tuple[int, int]]:
    """``(agency code, year) -> (awards, total cents)``."""
    return {(code, int(year)): (int(count), int(total))
            for code, year, count, total in store.run(AWARDS_PER_AGENCY_YEAR)}


def company_agencies(store: GraphStore, company_key: str) -> list[str]:
    """Codes of the agencies that funded one company."""
    return [code for (code,) in store.run(COMPANY_AGENCIES, {"key": company_key})]
