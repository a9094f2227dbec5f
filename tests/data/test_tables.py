"""rankgraph.data.tables: node feature tables and side-edge tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rankgraph.config.data import FeatureSpec, NodeTableConfig, SideEdgeTableConfig
from rankgraph.data.tables import read_node_table, read_side_edges
from rankgraph.errors import InputError

GOOD = {
    "item": [10, 11, 12],
    "cat": ["a", "b", "a"],
    "tags": [[1, 2], [3], []],
    "emb": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],
}
FEATURES = [
    FeatureSpec("category", "categorical", column="cat"),
    FeatureSpec("tags", "multi_hot"),
    FeatureSpec("emb", "dense"),
]


def node_file(tmp_path: Path, **changes) -> str:
    cols = {**GOOD, **changes}
    path = tmp_path / "items.parquet"
    pq.write_table(pa.table(cols), path)
    return str(path)


def node_cfg(path: str, features=None) -> NodeTableConfig:
    return NodeTableConfig(node_type="item", path=path, id_column="item", features=FEATURES if features is None else features)


def node_error(cfg: NodeTableConfig) -> InputError:
    with pytest.raises(InputError) as info:
        read_node_table(cfg)
    return info.value


def test_node_table_has_id_and_named_features(tmp_path):
    t = read_node_table(node_cfg(node_file(tmp_path)))
    assert t.column_names == ["id", "category", "tags", "emb"]
    assert t.column("id").to_pylist() == [10, 11, 12]
    assert t.column("tags").to_pylist() == [[1, 2], [3], []]


def test_dense_feature_becomes_fixed_size_float32(tmp_path):
    t = read_node_table(node_cfg(node_file(tmp_path)))
    assert t.schema.field("emb").type == pa.list_(pa.float32(), 2)


def test_duplicate_id_names_row(tmp_path):
    path = node_file(tmp_path, item=[10, 11, 10])
    err = node_error(node_cfg(path))
    assert (err.path, err.column, err.row) == (path, "item", 3)
    assert "duplicate id" in str(err)


def test_null_id_names_row(tmp_path):
    path = node_file(tmp_path, item=[10, None, 12])
    err = node_error(node_cfg(path))
    assert (err.path, err.column, err.row) == (path, "item", 2)


def test_missing_feature_column_lists_file_columns(tmp_path):
    path = node_file(tmp_path)
    err = node_error(node_cfg(path, [FeatureSpec("genre", "categorical")]))
    assert (err.path, err.column) == (path, "genre")
    assert "item, cat, tags, emb" in str(err)


def test_multi_hot_must_be_a_list_column(tmp_path):
    path = node_file(tmp_path)
    err = node_error(node_cfg(path, [FeatureSpec("cat", "multi_hot")]))
    assert (err.path, err.column) == (path, "cat") and "list" in str(err)


def test_dense_must_hold_numbers(tmp_path):
    path = node_file(tmp_path, emb=[["a"], ["b"], ["c"]])
    err = node_error(node_cfg(path, [FeatureSpec("emb", "dense")]))
    assert (err.path, err.column) == (path, "emb")


def test_dense_vectors_of_unequal_length_name_row(tmp_path):
    path = node_file(tmp_path, emb=[[0.1, 0.2], [0.3, 0.4], [0.5]])
    err = node_error(node_cfg(path))
    assert (err.path, err.column, err.row) == (path, "emb", 3)


def test_dense_nan_is_refused(tmp_path):
    path = node_file(tmp_path, emb=[[0.1, 0.2], [float("nan"), 0.4], [0.5, 0.6]])
    err = node_error(node_cfg(path))
    assert (err.path, err.column, err.row) == (path, "emb", 2)


def test_categorical_must_be_scalar(tmp_path):
    path = node_file(tmp_path)
    err = node_error(node_cfg(path, [FeatureSpec("tags", "categorical")]))
    assert (err.path, err.column) == (path, "tags")


# ---- side edges ------------------------------------------------------------------------


def edge_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "follows.csv"
    path.write_text(text)
    return str(path)


def edge_cfg(path: str, weight: str | None = None) -> SideEdgeTableConfig:
    return SideEdgeTableConfig(name="follows", path=path, src_type="user", dst_type="user",
                               src_column="a", dst_column="b", weight_column=weight)  # fmt: skip


def edge_error(cfg: SideEdgeTableConfig) -> InputError:
    with pytest.raises(InputError) as info:
        read_side_edges(cfg)
    return info.value


def test_side_edges_default_weight_is_one_float32(tmp_path):
    t = read_side_edges(edge_cfg(edge_file(tmp_path, "a,b\n1,2\n2,3\n")))
    assert t.column_names == ["src", "dst", "weight"]
    assert t.schema.field("weight").type == pa.float32()
    assert t.column("weight").to_pylist() == [1.0, 1.0]


def test_side_edges_read_weight_column(tmp_path):
    t = read_side_edges(edge_cfg(edge_file(tmp_path, "a,b,w\n1,2,0.5\n2,3,2\n"), "w"))
    assert t.column("weight").to_pylist() == [0.5, 2.0]


def test_side_edge_null_id_names_row(tmp_path):
    path = edge_file(tmp_path, "a,b\n1,2\n2,\n")
    err = edge_error(edge_cfg(path))
    assert (err.path, err.column, err.row) == (path, "b", 2)


def test_side_edge_negative_weight_names_row(tmp_path):
    path = edge_file(tmp_path, "a,b,w\n1,2,0.5\n2,3,1\n3,1,-2\n")
    err = edge_error(edge_cfg(path, "w"))
    assert (err.path, err.column, err.row) == (path, "w", 3)


def test_side_edge_missing_column_is_named(tmp_path):
    path = edge_file(tmp_path, "a,c\n1,2\n")
    err = edge_error(edge_cfg(path))
    assert (err.path, err.column) == (path, "b") and "a, c" in str(err)


def test_side_edge_file_not_found(tmp_path):
    err = edge_error(edge_cfg(str(tmp_path / "absent.parquet")))
    assert "not found" in str(err)
