"""Semantic (multi-hop co-engagement) relations, built in SQL.

Both kinds reduce to the same computation over a bipartite table `(pivot, node, ts)`:

- `item_item`: nodes are items of the listed types, pivots are users. Two items are related
  when the same user engaged both (within `window_days` of each other when set).
- `user_user`: nodes are users, pivots are items of the listed types.

Steps (each one standard SQL: GROUP BY, self-join, window functions):

1. one row per (pivot, node) with the node's latest engagement time; a pivot with more than
   `cap` nodes keeps its `cap` most recent ones (hub capping: `max_user_degree` for users as
   pivots, `max_item_degree` for items as pivots);
2. self-join on the pivot, aggregate per node pair: support = number of shared pivots;
3. score: `cocount` = support; `cosine` = support / sqrt(deg_a * deg_b) (degrees after capping);
   `swing` = sum over shared pivots p of 1 / ln(1 + deg_p). This is the Adamic-Adar-like
   approximation of Swing (it down-weights heavy pivots one at a time); exact Swing sums over
   *pairs* of pivots 1 / (alpha + |I_u ∩ I_v|), which is quadratic in the pivots per pair and
   too slow here;
4. keep pairs with support >= `min_support`, then exactly the `top_k` best sources per
   destination node and per source type (ties broken by score rounded to 1e-9, then the smaller
   source row), so the result does not depend on the engine's parallelism.

Engines (`graph.semantic_engine`): steps 2-4 run either as the SQL below (`sql`, portable to
Spark SQL, and the only one that knows `window_days`) or as a blocked sparse product over the
same SQL-built step-1 table (`sparse`, `rankgraph.graph.subgraph.co_engagement_pairs`, several
times faster on one machine because most pairs have support 1 and a hash aggregate over them
is costly). `auto` picks sparse unless the relation sets `window_days`. Both give the same
edges and weights (tested).

Relation layout: a relation `<a>__<name>__<b>` is a CSR over `b` whose in-neighbours of node
`j` are j's top-k nodes of type `a`. The unpruned score is symmetric, so `a__name__a` is its
own reverse and a cross-type pair (`post__co__video`, several `item_types`) has reverse
`video__co__post`; after top-k pruning the two directions need not hold the same edge set
(i may be in j's top-k but not the reverse).
"""

from __future__ import annotations

from rankgraph.config.graph import SemanticRelationConfig

SCORES = {
    "cocount": "CAST(p.support AS DOUBLE)",
    "cosine": "p.support / SQRT(CAST(da.deg AS DOUBLE) * db.deg)",
    "swing": "p.swing",
}


def _in_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def sql_semantic_base(rel: SemanticRelationConfig, item_types: list[str], table: str = "rg_sem_base") -> str:
    """Step 1: the capped bipartite table `(pt, p, nt, n, ts, pdeg)` of one semantic relation.

    Node types are small integers (`pt`, `nt`: the item type's position in `item_types`, or 0
    for users) so joins and groupings run on integer keys only. Reads `rg_ev` (train events)
    and the id maps `rg_user_map(id, row)`, `rg_item_map(item_type, id, row)`.
    """
    tid = "CASE m.item_type " + " ".join(f"WHEN {_in_list([t])} THEN {i}" for i, t in enumerate(item_types)) + " END"
    if rel.kind == "item_item":
        pivot, cap = f"0 AS pt, u.row AS p, {tid} AS nt, m.row AS n", rel.max_user_degree
    else:
        pivot, cap = f"{tid} AS pt, m.row AS p, 0 AS nt, u.row AS n", rel.max_item_degree
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
WITH ui AS (
  SELECT {pivot}, MAX(e.ts) AS ts
  FROM rg_ev e
  JOIN rg_user_map u ON e.user_id = u.id
  JOIN rg_item_map m ON e.item_type = m.item_type AND e.item_id = m.id
  WHERE e.item_type IN ({_in_list(item_types)})
  GROUP BY 1, 2, 3, 4
), ranked AS (
  SELECT pt, p, nt, n, ts,
         ROW_NUMBER() OVER (PARTITION BY pt, p ORDER BY ts DESC, nt, n) AS rk
  FROM ui
)
SELECT pt, p, nt, n, ts, COUNT(*) OVER (PARTITION BY pt, p) AS pdeg
FROM ranked
WHERE rk <= {int(cap)}
"""


def sql_semantic_topk(rel: SemanticRelationConfig, base: str = "rg_sem_base", table: str = "rg_sem_out") -> str:
    """Steps 2-4: scored, min-support-filtered, top-k-pruned pairs `(dt, dst, st, src, score)`."""
    swing = ", SUM(1.0 / LN(1.0 + a.pdeg)) AS swing" if rel.score == "swing" else ""
    window = ""
    if rel.window_days is not None:
        window = f" AND ABS(a.ts - b.ts) <= {float(rel.window_days) * 86400.0!r}"
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
WITH pairs AS (
  SELECT a.nt AS dt, a.n AS dst, b.nt AS st, b.n AS src,
         COUNT(*) AS support{swing}
  FROM {base} a
  JOIN {base} b ON a.pt = b.pt AND a.p = b.p
  WHERE NOT (a.nt = b.nt AND a.n = b.n){window}
  GROUP BY a.nt, a.n, b.nt, b.n
  HAVING COUNT(*) >= {int(rel.min_support)}
), deg AS (
  SELECT nt, n, COUNT(*) AS deg FROM {base} GROUP BY nt, n
), scored AS (
  SELECT p.dt, p.dst, p.st, p.src, {SCORES[rel.score]} AS score
  FROM pairs p
  JOIN deg da ON p.dt = da.nt AND p.dst = da.n
  JOIN deg db ON p.st = db.nt AND p.src = db.n
), ranked AS (
  SELECT dt, dst, st, src, score,
         ROW_NUMBER() OVER (PARTITION BY dt, dst, st ORDER BY ROUND(score, 9) DESC, src) AS rk
  FROM scored
)
SELECT dt, dst, st, src, score FROM ranked WHERE rk <= {int(rel.top_k)}
"""


def sql_semantic_edges(table: str = "rg_sem_out") -> str:
    """The pruned edges of one (source type, destination type) pair; parameters: st, dt (type numbers)."""
    return f"SELECT src, dst, score FROM {table} WHERE st = ? AND dt = ?"
