"""The graph-build SQL runs unchanged on Spark SQL (local mode) and gives DuckDB's edges.

Skipped when pyspark (optional extra `spark`) or a Java runtime is absent. The only
translation is the one docs/spark.md states: DuckDB's `TEMP TABLE` is a Spark `TEMP VIEW`.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("pyspark needs a Java runtime", allow_module_level=True)

import duckdb

from rankgraph.config import load_config
from rankgraph.config.graph import SemanticRelationConfig
from rankgraph.data.events import open_events
from rankgraph.data.synthetic import WorldConfig, generate_world
from rankgraph.graph.build import (
    SQL_ITEM_MAP,
    SQL_USER_MAP,
    build_graph,
    parse_train_until,
    sql_engagement,
    sql_train_events,
)
from rankgraph.graph.semantic import sql_semantic_base, sql_semantic_topk

SEM_TYPES = ["post", "video"]


def to_spark(statement: str) -> str:
    """DuckDB temp tables become Spark temp views; every other token is shared SQL."""
    return statement.replace("CREATE OR REPLACE TEMP TABLE", "CREATE OR REPLACE TEMP VIEW")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny world, its DuckDB-built graph (SQL semantic engine) and a Spark session with its events."""
    from pyspark.sql import SparkSession

    root = tmp_path_factory.mktemp("spark")
    generate_world(root / "world", WorldConfig(n_users=150, events_per_user=12, seed=3))
    cfg = load_config(
        root / "world" / "rankgraph.yaml",
        [
            "data.node_tables=[]",
            "graph.use_side_edges=false",
            "graph.semantic_engine=sql",
            "graph.threads=1",
        ],
    )
    # cross-type item-item co-engagement (post <-> video), as the SQL engine computes it
    cfg.graph.semantic = [SemanticRelationConfig(name="co", kind="item_item", item_types=SEM_TYPES)]
    graph = build_graph(cfg, root / "graph")
    con = duckdb.connect()
    open_events(con, cfg.data, name="events")
    events = con.sql("SELECT * FROM events").df()
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("rankgraph-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.createDataFrame(events).createOrReplaceTempView("events")
    schema = "id " + spark.table("events").schema["user_id"].dataType.simpleString()
    spark.createDataFrame([], schema).createOrReplaceTempView("rg_extra_user")
    item_schema = (
        "item_type string, id " + spark.table("events").schema["item_id"].dataType.simpleString()
    )
    spark.createDataFrame([], item_schema).createOrReplaceTempView("rg_extra_item")
    cut = parse_train_until(cfg.graph.train_until, cfg.data.time_unit)
    for statement in (sql_train_events("events", cut), SQL_USER_MAP, SQL_ITEM_MAP):
        spark.sql(to_spark(statement))
    yield cfg, graph, spark, cut
    spark.stop()


def _coo(rel) -> dict[tuple[int, int], float]:
    return dict(
        zip(
            zip(rel.dst_index().tolist(), np.asarray(rel.indices).tolist()),
            np.asarray(rel.weight).tolist(),
        )
    )


def test_spark_id_maps_number_ids_like_duckdb(built):
    cfg, graph, spark, _ = built
    users = [r.id for r in spark.sql("SELECT id FROM rg_user_map ORDER BY row").collect()]
    assert users == graph.ids[cfg.data.user_type].to_pylist()


def test_spark_engagement_weights_equal_duckdb(built):
    cfg, graph, spark, cut = built
    for rc in cfg.graph.engagement:
        types = [t for t in rc.item_types if t in graph.num_nodes]
        rows = spark.sql(to_spark(sql_engagement(rc, types, cut, cfg.data.time_unit))).collect()
        for t in types:
            got = {(r.dst, r.src): r.weight for r in rows if r.item_type == t}
            want = _coo(graph.relations[f"{cfg.data.user_type}__{rc.name}__{t}"])
            assert got.keys() == want.keys() and len(got) > 0
            np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-6)


def test_spark_semantic_topk_scores_equal_duckdb(built):
    cfg, graph, spark, _ = built
    rc = cfg.graph.semantic[0]
    spark.sql(to_spark(sql_semantic_base(rc, SEM_TYPES)))
    spark.sql(to_spark(sql_semantic_topk(rc)))
    rows = spark.sql("SELECT st, dt, dst, src, score FROM rg_sem_out").collect()
    for si, st in enumerate(SEM_TYPES):
        for di, dt in enumerate(SEM_TYPES):
            got = {(r.dst, r.src): r.score for r in rows if r.st == si and r.dt == di}
            want = _coo(graph.relations[f"{st}__co__{dt}"])
            assert got.keys() == want.keys() and len(got) > 0, (st, dt)
            np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-5)
