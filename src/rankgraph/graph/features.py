"""Encode node feature tables into `FeatureColumn`s aligned with the graph's id maps.

Conventions (the model's feature encoder relies on them):

- categorical: int64 codes; code 0 is reserved for "missing" (a node without a row, or a
  null value), codes 1..V follow the sorted vocabulary. The vocabulary is returned as a list
  whose index *is* the code (`vocab[0] is None`), and is saved in `meta["vocab"][type][name]`.
- multi_hot: offsets int64 [n+1] and values int64 [nnz] in 0..V-1 (no reserved code: a
  missing node simply has an empty list); vocabulary as a plain sorted list.
- dense: float32 [n, d]; missing nodes get zeros. Every non-null vector must have length d.

Worked example: ids = ["a", "b", "c"], table rows {id: "c", topic: "x"}, {id: "a", topic: "w"}
gives vocab [None, "w", "x"] and topic codes [1, 0, 2] ("b" has no row, so code 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankgraph.config.data import FeatureSpec
from rankgraph.errors import InputError
from rankgraph.graph.store import FeatureColumn


def cast_ids(arr: pa.Array | pa.ChunkedArray, target: pa.DataType, *, path: str, column: str) -> pa.Array:
    """Cast raw ids to the id type of the node type they join (e.g. int64 ids vs string ids)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == target:
        return arr
    if pa.types.is_large_string(arr.type) and pa.types.is_string(target):
        return arr.cast(target)
    try:
        return pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"ids cannot be read as {target} like the other ids of this node type ({exc})",
                         path=path, column=column) from exc


def rows_of(ids: pa.Array, id_map: pa.Array) -> np.ndarray:
    """Row of each id in `id_map` (-1 where unknown), vectorised through Arrow's hash lookup."""
    idx = pc.index_in(ids, value_set=id_map)
    return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def sorted_vocab(values: pa.Array) -> pa.Array:
    """Distinct non-null values in ascending order: a deterministic vocabulary."""
    uniq = pc.unique(values.drop_null())
    return uniq.take(pc.sort_indices(uniq))


def encode_categorical(name: str, col: pa.Array, rows: np.ndarray, n: int) -> tuple[FeatureColumn, list[Any]]:
    vocab = sorted_vocab(col)
    codes = np.asarray(pc.index_in(col, value_set=vocab).fill_null(-1).to_numpy(zero_copy_only=False), np.int64) + 1
    out = np.zeros(n, dtype=np.int64)
    out[rows] = codes
    return FeatureColumn(name, "categorical", out, cardinality=len(vocab) + 1), [None, *vocab.to_pylist()]


def encode_multi_hot(
    name: str, col: pa.Array, rows: np.ndarray, n: int, *, path: str, column: str
) -> tuple[FeatureColumn, list[Any]]:
    if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type)):
        raise InputError(f"multi_hot feature '{name}' needs a list column, got {col.type}", path=path, column=column)
    lens = np.asarray(pc.list_value_length(col).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    flat = pc.list_flatten(col)  # skips null lists, in row order
    vocab = sorted_vocab(flat)
    flat_codes = np.asarray(pc.index_in(flat, value_set=vocab).fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
    if flat_codes.size and flat_codes.min() < 0:
        raise InputError(f"multi_hot feature '{name}' has null list elements", path=path, column=column)
    starts = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    node_len = np.zeros(n, dtype=np.int64)
    node_len[rows] = lens
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(node_len, out=offsets[1:])
    # table rows in node order, then the flattened slices of those rows, concatenated
    order = np.argsort(rows, kind="stable")
    o_start, o_len = starts[order], lens[order]
    total = int(o_len.sum())
    seg_begin = np.repeat(np.cumsum(o_len) - o_len, o_len)
    gather = np.repeat(o_start, o_len) + (np.arange(total, dtype=np.int64) - seg_begin)
    values = flat_codes[gather]
    return FeatureColumn(name, "multi_hot", values, offsets=offsets, cardinality=len(vocab)), vocab.to_pylist()


def encode_dense(name: str, col: pa.Array, rows: np.ndarray, n: int, *, path: str, column: str) -> FeatureColumn:
    if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type)):
        raise InputError(f"dense feature '{name}' needs a list column of numbers, got {col.type}", path=path, column=column)
    lens = np.asarray(pc.list_value_length(col).to_numpy(zero_copy_only=False))
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), bool)
    present = lens[valid].astype(np.int64) if valid.any() else np.zeros(0, np.int64)
    dim = int(present[0]) if present.size else 0
    if present.size and (present != dim).any():
        bad = int(np.flatnonzero(valid)[np.flatnonzero(present != dim)[0]])
        raise InputError(f"dense feature '{name}': vectors must all have length {dim}", path=path, column=column,
                         row=bad, value=int(lens[bad]))
    flat = pc.list_flatten(col).cast(pa.float32()).to_numpy(zero_copy_only=False)
    out = np.zeros((n, dim), dtype=np.float32)
    if dim:
        out[rows[valid]] = np.asarray(flat, dtype=np.float32).reshape(-1, dim)
    return FeatureColumn(name, "dense", out)


def encode_node_table(
    table: pa.Table, specs: list[FeatureSpec], id_map: pa.Array, *, path: str
) -> tuple[dict[str, FeatureColumn], dict[str, list[Any]], int]:
    """Encode `table` (column `id` + features) for the nodes of `id_map`.

    Returns the feature columns, the vocabularies of categorical/multi_hot features, and the
    number of table rows whose id is not a node of the graph (dropped).
    """
    if "id" not in table.column_names:
        raise InputError("node table has no 'id' column", path=path, column="id")
    ids = cast_ids(table.column("id"), id_map.type, path=path, column="id")
    if pc.count_distinct(ids).as_py() != len(ids) or ids.null_count:
        raise InputError("node table ids must be unique and non-null", path=path, column="id")
    rows = rows_of(ids, id_map)
    keep = rows >= 0
    dropped = int((~keep).sum())
    table = table.filter(pa.array(keep))
    rows = rows[keep]
    n = len(id_map)
    cols: dict[str, FeatureColumn] = {}
    vocabs: dict[str, list[Any]] = {}
    for spec in specs:
        # read_node_table names each column after its feature; a raw table keeps spec.column
        column = spec.name if spec.name in table.column_names else (spec.column or spec.name)
        if column not in table.column_names:
            raise InputError(f"feature '{spec.name}' names a missing column", path=path, column=column)
        col = table.column(column).combine_chunks()
        if spec.kind == "categorical":
            cols[spec.name], vocabs[spec.name] = encode_categorical(spec.name, col, rows, n)
        elif spec.kind == "multi_hot":
            cols[spec.name], vocabs[spec.name] = encode_multi_hot(spec.name, col, rows, n, path=path, column=column)
        else:
            cols[spec.name] = encode_dense(spec.name, col, rows, n, path=path, column=column)
    return cols, vocabs, dropped
