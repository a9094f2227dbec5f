"""Build the heterogeneous graph artifact from canonical events, in DuckDB SQL.

The pipeline (every step a named SQL statement below, kept to standard SQL -- GROUP BY,
joins, window functions -- so the same statements can run on Spark SQL):

1. `rg_ev`: the train events, `ts < train_until` (strictly before the cut) when a cut is set.
2. id maps: users and every item type from the train events, plus ids from node tables and,
   for node types that no event mentions (e.g. advertisers), side-edge endpoints. Rows are
   numbered in ascending raw-id order, so the same input always gives the same graph.
   Side-edge endpoints of a node type that events *do* define, but which no train event or
   node table mentions, are dropped and counted (`meta["side_edges"][name]["dropped"]`):
   such a node would have no engagement, and a future user must not enter through a side
   table.
3. engagement relations (`EngagementRelationConfig`):
   weight(u, i) = sum_e coef[e] * f(c_e(u, i)), c_e = sum over events of type e of
   0.5 ** ((ref - ts) / half_life) (= the plain count without decay), f = log1p | linear |
   binary; ref = the cut, else the latest train event. `half_life_days` is in days when
   `data.time_unit == "seconds"` and in periods when it is `"period"`. Only events listed in
   `events` count (all of them, coefficient 1, when it is empty); pairs whose weight is <= 0
   are dropped. One relation `user__<name>__<t>` per item type plus its reverse.
   With no engagement relation configured, one default relation `engaged` is built.
4. semantic relations: see `rankgraph.graph.semantic`.
5. side relations from `data.side_edges` (when `graph.use_side_edges`), duplicate pairs summed.
6. features: node tables (see `rankgraph.graph.features`) and each item's `domain`
   (most frequent domain among its train events, ties to the smaller name).

Worked example (log1p, coefficients click=1, like=2, no decay): a user who clicked an item
3 times and liked it once gets weight 1*ln(1+3) + 2*ln(1+1) = 2.7726.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from rankgraph.config import RankGraphConfig
from rankgraph.config.graph import EngagementRelationConfig, SemanticRelationConfig
from rankgraph.errors import ConfigError, InputError
from rankgraph.graph.features import cast_ids, encode_categorical, encode_node_table, rows_of, sorted_vocab
from rankgraph.graph.semantic import sql_semantic_base, sql_semantic_edges, sql_semantic_topk
from rankgraph.graph.subgraph import co_engagement_pairs
from rankgraph.graph.store import FeatureColumn, HeteroGraph, Relation, csr_from_coo, reverse_relation

Stage = Callable[[str], None]

SECONDS_PER_DAY = 86400.0

# --------------------------------------------------------------------------- SQL statements

SQL_EVENT_COUNT = "SELECT COUNT(*) FROM {source}"

SQL_MAX_TS = "SELECT MAX(ts) FROM rg_ev"


def sql_train_events(source: str, cut: int | None) -> str:
    """`rg_ev`: the events the graph may see (strictly before the cut)."""
    where = f" WHERE ts < {int(cut)}" if cut is not None else ""
    return (
        "CREATE OR REPLACE TEMP VIEW rg_ev AS "
        f"SELECT user_id, item_id, item_type, domain, event, ts FROM {source}{where}"
    )


SQL_USER_MAP = """
CREATE OR REPLACE TEMP TABLE rg_user_map AS
SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS row
FROM (SELECT user_id AS id FROM rg_ev UNION SELECT id FROM rg_extra_user) t
"""

SQL_ITEM_MAP = """
CREATE OR REPLACE TEMP TABLE rg_item_map AS
SELECT item_type, id, ROW_NUMBER() OVER (PARTITION BY item_type ORDER BY id) - 1 AS row
FROM (SELECT item_type, item_id AS id FROM rg_ev UNION SELECT item_type, id FROM rg_extra_item) t
"""

SQL_ITEM_TYPES = "SELECT item_type, COUNT(*) FROM rg_item_map GROUP BY item_type ORDER BY item_type"

SQL_USER_IDS = "SELECT id FROM rg_user_map ORDER BY row"

SQL_ITEM_IDS = "SELECT id FROM rg_item_map WHERE item_type = ? ORDER BY row"

SQL_ITEM_DOMAIN = """
SELECT row, domain FROM (
  SELECT m.row, e.domain,
         ROW_NUMBER() OVER (PARTITION BY m.row ORDER BY COUNT(*) DESC, e.domain) AS rk
  FROM rg_ev e JOIN rg_item_map m ON e.item_type = m.item_type AND e.item_id = m.id
  WHERE e.item_type = ? AND e.domain IS NOT NULL
  GROUP BY m.row, e.domain
) t WHERE rk = 1
"""


def _quote(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def sql_engagement(
    rel: EngagementRelationConfig, item_types: list[str], ref_ts: int | None, time_unit: str,
    all_events: list[str] | None = None,
) -> str:
    """Weighted (user row, item row) edges of one engagement relation, for all its item types.

    One GROUP BY per (user, item) computes every event type's (decayed) count with a
    conditional SUM, then the weight sum_e coef[e] * f(count_e) in the outer SELECT: one
    aggregation pass instead of one per (user, item, event) and a second per (user, item).
    `all_events` lists the event types when the relation names none (coefficient 1 each).
    """
    coefs = dict(rel.events) if rel.events else {e: 1.0 for e in (all_events or [])}
    if rel.half_life_days is not None and ref_ts is not None:
        unit = SECONDS_PER_DAY if time_unit == "seconds" else 1.0
        half_life = float(rel.half_life_days) * unit
        one = f"POWER(0.5, CAST({int(ref_ts)} - ts AS DOUBLE) / {half_life!r})"
    else:
        one = "1.0"

    def f(c: str) -> str:
        return {"log1p": f"LN(1.0 + {c})", "linear": c, "binary": f"CASE WHEN {c} > 0 THEN 1.0 ELSE 0.0 END"}[
            rel.transform
        ]

    names = {e: f"c{k}" for k, e in enumerate(coefs)}
    counts = ",\n         ".join(
        f"SUM(CASE WHEN event = {_quote(e)} THEN {one} ELSE 0.0 END) AS {c}" for e, c in names.items()
    )
    weight = " + ".join(f"{float(coefs[e])!r} * {f(c)}" for e, c in names.items()) or "0.0"
    return f"""
WITH per_pair AS (
  SELECT user_id, item_type, item_id, MIN(ts) AS first_ts,
         {counts}
  FROM rg_ev
  WHERE item_type IN ({', '.join(_quote(t) for t in item_types)})
    AND event IN ({', '.join(_quote(e) for e in coefs) or "NULL"})
  GROUP BY user_id, item_type, item_id
), weighted AS (
  SELECT user_id, item_type, item_id, first_ts, {weight} AS weight FROM per_pair
)
SELECT m.item_type AS item_type, u.row AS src, m.row AS dst, w.weight AS weight, w.first_ts AS first_ts
FROM weighted w
JOIN rg_user_map u ON w.user_id = u.id
JOIN rg_item_map m ON w.item_type = m.item_type AND w.item_id = m.id
WHERE w.weight > 0
"""


SQL_EVENT_TYPES = "SELECT DISTINCT event FROM rg_ev ORDER BY event"


SQL_SEMANTIC_BASE_ROWS = "SELECT pt, p, nt, n FROM rg_sem_base"

SQL_SIDE_EDGES = "SELECT src, dst, SUM(weight) AS weight FROM rg_side GROUP BY src, dst"

# --------------------------------------------------------------------------- helpers


def parse_train_until(value: str | int | None, time_unit: str = "seconds") -> int | None:
    """The cut as an integer timestamp or period (`None` keeps every event)."""
    if value is None:
        return None
    from rankgraph.data.split import parse_cut

    return parse_cut(value, time_unit)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()[0]
    return bool(rows and rows[0])


def _open_events(con: duckdb.DuckDBPyConnection, cfg: RankGraphConfig) -> str:
    """Name of the canonical events relation: an existing `events` table, else `open_events`."""
    if _has_table(con, "events"):
        return "events"
    if not cfg.data.events:
        raise InputError("no event files configured (data.events is empty)")
    from rankgraph.data.events import open_events

    open_events(con, cfg.data, name="events")
    return "events"


def _to_numpy(table: pa.Table, col: str, dtype: Any) -> np.ndarray:
    return np.asarray(table.column(col).to_numpy(), dtype=dtype)


def _relation_from_edges(
    name: str, src_type: str, dst_type: str, src: np.ndarray, dst: np.ndarray, w: np.ndarray, num_dst: int,
    kind: str, reverse: str | None, time: np.ndarray | None = None,
) -> Relation:
    """CSR with edges ordered by (destination, source): deterministic whatever the engine's order.

    `time` (per edge, like `w`) follows the same order: sorted by (dst, src) already, the
    stable destination sort inside `csr_from_coo` leaves the edges where they are."""
    order = np.lexsort((src, dst))
    indptr, indices, weight = csr_from_coo(src[order], dst[order], w[order], num_dst)
    edge_time = None if time is None else np.ascontiguousarray(np.asarray(time, np.int64)[order])
    return Relation(name, src_type, dst_type, indptr, indices, weight, kind=kind, reverse=reverse, time=edge_time)  # type: ignore[arg-type]


def _default_engagement() -> list[EngagementRelationConfig]:
    return [EngagementRelationConfig(name="engaged")]


# --------------------------------------------------------------------------- the builder


class _Builder:
    """One build: a DuckDB connection, the id maps, and the relations built so far."""

    def __init__(self, cfg: RankGraphConfig, con: duckdb.DuckDBPyConnection, stage: Stage) -> None:
        self.cfg, self.con, self.stage = cfg, con, stage
        self.sql_log: list[str] = []
        self.user_type = cfg.data.user_type
        self.num_nodes: dict[str, int] = {}
        self.ids: dict[str, pa.Array] = {}
        self.relations: dict[str, Relation] = {}
        self.features: dict[str, dict[str, FeatureColumn]] = {}
        self.meta: dict[str, Any] = {}

    def sql(self, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a statement to completion and return its (small) result rows."""
        if statement not in self.sql_log:
            self.sql_log.append(statement.strip())
        return self.con.execute(statement, params or []).fetchall()

    def arrow(self, statement: str, params: list[Any] | None = None) -> pa.Table:
        """Run a query and return its result as an Arrow table (no DB-API copy)."""
        if statement not in self.sql_log:
            self.sql_log.append(statement.strip())
        return self.con.sql(statement, params=params or None).to_arrow_table()

    # ---- inputs
    def read_side_tables(self) -> list[tuple[Any, pa.Table]]:
        if not (self.cfg.graph.use_side_edges and self.cfg.data.side_edges):
            return []
        from rankgraph.data.tables import read_side_edges

        return [(sc, read_side_edges(sc)) for sc in self.cfg.data.side_edges]

    def read_node_tables(self) -> list[tuple[Any, pa.Table]]:
        if not self.cfg.data.node_tables:
            return []
        from rankgraph.data.tables import read_node_table

        return [(nc, read_node_table(nc)) for nc in self.cfg.data.node_tables]

    # ---- id maps
    def build_id_maps(self, side: list[tuple[Any, pa.Table]], nodes: list[tuple[Any, pa.Table]]) -> None:
        schema = self.arrow("SELECT user_id, item_id, item_type FROM rg_ev LIMIT 0").schema
        user_t, item_t = schema.field("user_id").type, schema.field("item_id").type
        event_item_types = sorted(
            r[0] for r in self.sql("SELECT DISTINCT item_type FROM rg_ev") if r[0] is not None
        )
        if self.user_type in event_item_types:
            raise InputError(f"item_type '{self.user_type}' is also the user node type (data.user_type)",
                             column="item_type", value=self.user_type)
        event_types = {self.user_type, *event_item_types}
        # ids that enter without events: node tables (any type) and side endpoints of new types
        extra: dict[str, list[pa.Array]] = {}
        for nc, table in nodes:
            if "id" not in table.column_names:
                raise InputError("node table has no 'id' column", path=nc.path, column="id")
            extra.setdefault(nc.node_type, []).append(table.column("id").combine_chunks())
        for sc, table in side:
            for col, t in (("src", sc.src_type), ("dst", sc.dst_type)):
                if t not in event_types:
                    extra.setdefault(t, []).append(table.column(col).combine_chunks())

        def extra_ids(t: str, target: pa.DataType, where: str) -> pa.Array:
            arrs = [cast_ids(a, target, path=where, column="id") for a in extra.get(t, [])]
            return pa.concat_arrays(arrs) if arrs else pa.array([], type=target)

        self.con.register("rg_extra_user", pa.table({"id": extra_ids(self.user_type, user_t, "node/side table")}))
        item_extra_types = [t for t in extra if t != self.user_type and t not in event_types]
        known_item_types = [t for t in extra if t in event_item_types]
        chunks = [pa.table({"item_type": pa.array([], pa.string()), "id": pa.array([], item_t)})]
        for t in known_item_types:
            ids = extra_ids(t, item_t, f"node table of '{t}'")
            chunks.append(pa.table({"item_type": pa.array([t] * len(ids), pa.string()), "id": ids}))
        self.con.register("rg_extra_item", pa.concat_tables(chunks))
        self.sql(SQL_USER_MAP)
        self.sql(SQL_ITEM_MAP)
        self.con.unregister("rg_extra_user")
        self.con.unregister("rg_extra_item")
        self.ids[self.user_type] = self.arrow(SQL_USER_IDS).column("id").combine_chunks()
        self.num_nodes[self.user_type] = len(self.ids[self.user_type])
        self.item_types = event_item_types
        for t in event_item_types:
            self.ids[t] = self.arrow(SQL_ITEM_IDS, [t]).column("id").combine_chunks()
            self.num_nodes[t] = len(self.ids[t])
        # types no event mentions: their ids come only from node tables and side tables
        for t in sorted(item_extra_types):
            arr = pa.concat_arrays([a.cast(extra[t][0].type) for a in extra[t]]).drop_null()
            self.ids[t] = sorted_vocab(arr)
            self.num_nodes[t] = len(self.ids[t])

    # ---- engagement
    def build_engagement(self, ref_ts: int | None) -> None:
        rels = self.cfg.graph.engagement or _default_engagement()
        for rc in rels:
            types = rc.item_types or self.item_types
            unknown = [t for t in types if t not in self.item_types]
            types = [t for t in types if t in self.item_types]
            if unknown:
                self.meta.setdefault("warnings", []).append(
                    f"engagement '{rc.name}': item types {unknown} have no train events"
                )
            self.stage(f"engagement relation '{rc.name}'")
            all_events = [r[0] for r in self.sql(SQL_EVENT_TYPES)] if not rc.events else None
            edges = self.arrow(sql_engagement(rc, types, ref_ts, self.cfg.data.time_unit, all_events)) if types else None
            for t in types:
                if edges is not None and edges.num_rows:
                    mask = np.asarray(pc.equal(edges.column("item_type"), t).to_numpy(zero_copy_only=False), bool)
                    src = _to_numpy(edges, "src", np.int64)[mask]
                    dst = _to_numpy(edges, "dst", np.int64)[mask]
                    w = _to_numpy(edges, "weight", np.float64)[mask]
                    first = _to_numpy(edges, "first_ts", np.int64)[mask]
                else:
                    src = dst = first = np.zeros(0, np.int64)
                    w = np.zeros(0)
                name, rev = f"{self.user_type}__{rc.name}__{t}", f"{t}__rev_{rc.name}__{self.user_type}"
                if name in self.relations:
                    raise ConfigError(f"graph.engagement: relation '{name}' is built twice (same name, item type)")
                fwd = _relation_from_edges(name, self.user_type, t, src, dst, w, self.num_nodes[t], "engagement", rev, first)
                self.relations[name] = fwd
                self.relations[rev] = reverse_relation(fwd, rev, self.num_nodes[self.user_type])

    # ---- semantic
    def build_semantic(self) -> None:
        for rc in self.cfg.graph.semantic:
            types = [t for t in (rc.item_types or self.item_types) if t in self.item_types]
            self.stage(f"semantic relation '{rc.name}' ({rc.kind}, {rc.score}, top {rc.top_k})")
            if rc.top_k < 1 or rc.min_support < 1:
                raise ConfigError(f"graph.semantic '{rc.name}': top_k and min_support must be >= 1")
            if not types:
                continue
            self.sql(sql_semantic_base(rc, types))
            node_types = types if rc.kind == "item_item" else [self.user_type]
            engine = self.cfg.graph.semantic_engine
            if engine == "sparse" and rc.window_days is not None:
                raise ConfigError(f"graph.semantic '{rc.name}': window_days needs graph.semantic_engine sql or auto")
            if engine == "sql" or rc.window_days is not None:
                self.sql(sql_semantic_topk(rc))
                pairs = {
                    (si, di): self.arrow(sql_semantic_edges(), [si, di])
                    for si in range(len(node_types)) for di in range(len(node_types))
                }  # fmt: skip
                edges = {
                    k: (_to_numpy(t, "src", np.int64), _to_numpy(t, "dst", np.int64), _to_numpy(t, "score", np.float64))
                    for k, t in pairs.items()
                }
            else:
                edges = self._semantic_sparse(rc, node_types, types)
            for (si, di), (src, dst, score) in edges.items():
                st, dt = node_types[si], node_types[di]
                name = f"{st}__{rc.name}__{dt}"
                if name in self.relations:
                    raise ConfigError(f"graph.semantic: relation '{name}' is built twice")
                self.relations[name] = _relation_from_edges(
                    name, st, dt, src, dst, score, self.num_nodes[dt], "semantic", f"{dt}__{rc.name}__{st}"
                )
            self.sql("DROP TABLE IF EXISTS rg_sem_base")
            self.sql("DROP TABLE IF EXISTS rg_sem_out")

    def _semantic_sparse(
        self, rc: SemanticRelationConfig, node_types: list[str], item_types: list[str]
    ) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Count and score the pairs of `rg_sem_base` with a blocked sparse product (same maths as SQL)."""
        base = self.arrow(SQL_SEMANTIC_BASE_ROWS)
        pivot_types = [self.user_type] if rc.kind == "item_item" else item_types
        n_off = np.concatenate([[0], np.cumsum([self.num_nodes[t] for t in node_types])]).astype(np.int64)
        p_off = np.concatenate([[0], np.cumsum([self.num_nodes[t] for t in pivot_types])]).astype(np.int64)
        nt, pt = _to_numpy(base, "nt", np.int64), _to_numpy(base, "pt", np.int64)
        rows = n_off[nt] + _to_numpy(base, "n", np.int64)
        cols = p_off[pt] + _to_numpy(base, "p", np.int64)
        a = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(int(n_off[-1]), int(p_off[-1])))
        group = np.repeat(np.arange(len(node_types)), np.diff(n_off))
        d, s, w = co_engagement_pairs(a, score=rc.score, top_k=rc.top_k, min_support=rc.min_support, src_group=group)
        dti, sti = group[d], group[s]
        out = {}
        for si in range(len(node_types)):
            for di in range(len(node_types)):
                m = (sti == si) & (dti == di)
                out[(si, di)] = (s[m] - n_off[si], d[m] - n_off[di], w[m])
        return out

    # ---- side edges
    def build_side(self, side: list[tuple[Any, pa.Table]]) -> None:
        report: dict[str, Any] = {}
        for sc, table in side:
            for t in (sc.src_type, sc.dst_type):
                if t not in self.num_nodes:
                    raise InputError(f"side edges '{sc.name}': unknown node type '{t}'", path=sc.path)
            self.stage(f"side relation '{sc.name}'")
            src = cast_ids(table.column("src"), self.ids[sc.src_type].type, path=sc.path, column=sc.src_column)
            dst = cast_ids(table.column("dst"), self.ids[sc.dst_type].type, path=sc.path, column=sc.dst_column)
            w = table.column("weight").combine_chunks() if "weight" in table.column_names else pa.array(
                np.ones(len(src), np.float32))
            s_row, d_row = rows_of(src, self.ids[sc.src_type]), rows_of(dst, self.ids[sc.dst_type])
            keep = (s_row >= 0) & (d_row >= 0)
            # duplicate pairs are summed, in SQL like the rest of the construction
            self.con.register("rg_side", pa.table({"src": s_row[keep], "dst": d_row[keep],
                                                   "weight": np.asarray(w.to_numpy(zero_copy_only=False),
                                                                        np.float64)[keep]}))
            out = self.arrow(SQL_SIDE_EDGES)
            self.con.unregister("rg_side")
            fwd_name = f"{sc.src_type}__{sc.name}__{sc.dst_type}"
            rev_name = f"{sc.dst_type}__rev_{sc.name}__{sc.src_type}"
            fwd = _relation_from_edges(fwd_name, sc.src_type, sc.dst_type, _to_numpy(out, "src", np.int64),
                                       _to_numpy(out, "dst", np.int64), _to_numpy(out, "weight", np.float64),
                                       self.num_nodes[sc.dst_type], "side", rev_name)
            self.relations[fwd_name] = fwd
            self.relations[rev_name] = reverse_relation(fwd, rev_name, self.num_nodes[sc.src_type])
            report[sc.name] = {"rows": len(src), "edges": fwd.num_edges, "dropped": int((~keep).sum()),
                               "dropped_unknown_src": int((s_row < 0).sum()),
                               "dropped_unknown_dst": int((d_row < 0).sum())}
        if report:
            self.meta["side_edges"] = report

    # ---- features
    def build_features(self, nodes: list[tuple[Any, pa.Table]]) -> None:
        vocab: dict[str, dict[str, list[Any]]] = {}
        dropped: dict[str, int] = {}
        for nc, table in nodes:
            self.stage(f"features of '{nc.node_type}'")
            t = nc.node_type
            cols, voc, n_drop = encode_node_table(table, nc.features, self.ids[t], path=nc.path)
            for name in cols:
                if name in self.features.get(t, {}) or name == "domain":
                    raise ConfigError(f"data.node_tables: feature '{t}.{name}' is defined twice (or is 'domain')")
            self.features.setdefault(t, {}).update(cols)
            if voc:
                vocab.setdefault(t, {}).update(voc)
            dropped[t] = dropped.get(t, 0) + n_drop
        domains: dict[str, list[Any]] = {}
        for t in self.item_types:
            d = self.arrow(SQL_ITEM_DOMAIN, [t])
            rows = _to_numpy(d, "row", np.int64)
            col, voc = encode_categorical("domain", d.column("domain").combine_chunks(), rows, self.num_nodes[t])
            self.features.setdefault(t, {})["domain"] = col
            domains[t] = voc
        self.meta["domains"] = domains
        if vocab:
            self.meta["vocab"] = vocab
        if any(dropped.values()):
            self.meta["node_table_rows_dropped"] = dropped


def build_graph(
    cfg: RankGraphConfig,
    out: str | Path,
    train_until: int | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    stage: Stage | None = None,
) -> HeteroGraph:
    """Build the graph artifact at `out` from `cfg` and return it.

    `train_until` (or `cfg.graph.train_until`) keeps only events strictly before the cut.
    `con`: a DuckDB connection; when it already holds a canonical `events` table, that table
    is used, else `rankgraph.data.events.open_events` registers the configured files.
    `stage` receives a short description of each step (the CLI shows it as progress).
    """
    started = time.perf_counter()
    stage = stage or (lambda _msg: None)
    cut = train_until if train_until is not None else parse_train_until(cfg.graph.train_until, cfg.data.time_unit)
    own = con is None
    if con is None:
        con = duckdb.connect()
        con.execute(f"SET memory_limit = {_quote(cfg.graph.memory_limit)}")
        if cfg.graph.threads:
            con.execute(f"SET threads = {int(cfg.graph.threads)}")
    try:
        b = _Builder(cfg, con, stage)
        stage("reading events")
        source = _open_events(con, cfg)
        total = int(b.sql(SQL_EVENT_COUNT.format(source=source))[0][0])
        b.sql(sql_train_events(source, cut))
        used = int(b.sql(SQL_EVENT_COUNT.format(source="rg_ev"))[0][0])
        if used == 0:
            raise InputError(f"no events before train_until={cut} (of {total} events)" if cut is not None
                             else "the events table is empty")
        max_ts = b.sql(SQL_MAX_TS)[0][0]
        ref_ts = cut if cut is not None else int(max_ts)
        side, nodes = b.read_side_tables(), b.read_node_tables()
        stage("id maps")
        b.build_id_maps(side, nodes)
        b.build_engagement(ref_ts)
        b.build_semantic()
        b.build_side(side)
        b.build_features(nodes)
        b.meta.update({"train_until": cut, "user_type": b.user_type, "item_types": b.item_types,
                       "time_unit": cfg.data.time_unit, "decay_reference_ts": ref_ts})
        graph = HeteroGraph(num_nodes=b.num_nodes, relations=b.relations, features=b.features, ids=b.ids,
                            meta=b.meta)
        elapsed = time.perf_counter() - started
        stage("writing the artifact")
        graph.save(out, extra_manifest={
            "config": cfg.to_dict(),
            "train_until": cut,
            "counts": {
                "events_total": total,
                "events_used": used,
                "nodes": dict(b.num_nodes),
                "edges": {n: r.num_edges for n, r in b.relations.items()},
            },
            "build_seconds": round(elapsed, 3),
            "engine": {"name": "duckdb", "version": duckdb.__version__},
            "sql": b.sql_log,
        })
        return graph
    finally:
        if own:
            con.close()


__all__ = ["build_graph", "parse_train_until", "sql_engagement", "sql_train_events"]
