"""Node feature tables and side-edge tables, read through DuckDB and validated on entry.

Same discipline as `rankgraph.data.events`: every check is one vectorised SQL aggregate
over the file, and a failure names the file, the column and the first offending row.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from rankgraph.config.data import NodeTableConfig, SideEdgeTableConfig
from rankgraph.data.events import (
    _first_line,
    describe_file,
    nostats,
    detect_format,
    qident,
    resolve_files,
    scan_sql,
    to_arrow,
)
from rankgraph.errors import InputError

_NUMERIC = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL",
}  # fmt: skip


def _is_list(dtype: str) -> bool:
    return dtype.endswith("]")


def _element_type(dtype: str) -> str:
    """`FLOAT[]` -> `FLOAT`, `DOUBLE[8]` -> `DOUBLE`."""
    return dtype[: dtype.rindex("[")].split("(")[0].upper()


def _open_single(con: duckdb.DuckDBPyConnection, path: str) -> tuple[str, str, dict[str, str]]:
    files = resolve_files([path])
    if len(files) != 1:
        raise InputError(f"matches {len(files)} files; a table must be one file", path=path)
    fmt = detect_format(files[0])
    return files[0], fmt, describe_file(con, files[0], fmt)


def _require(schema: dict[str, str], col: str, path: str, role: str) -> None:
    if col not in schema:
        have = ", ".join(schema) or "(none)"
        raise InputError(f"missing {role} column; the file has: {have}", path=path, column=col)


def _first_failure(
    con: duckdb.DuckDBPyConnection, path: str, fmt: str, checks: list[tuple[str, str, str, str]], extra_cols: str = ""
) -> int:
    """Run (column, predicate, message, value SQL) checks in one pass; raise on the earliest bad row."""
    aggs = ["count(*)"]
    for _, pred, _, val in checks:
        aggs += [f"min(__row) FILTER (WHERE {pred})", f"arg_min({val}, __row) FILTER (WHERE {pred})"]
    src = scan_sql(path, fmt, row_number=True)
    if extra_cols:
        src = f"(SELECT *, {extra_cols} FROM {src})"
    try:
        res = con.execute(f"SELECT {', '.join(aggs)} FROM {src}").fetchall()[0]
    except duckdb.Error as exc:
        raise InputError(f"unreadable {fmt} file ({_first_line(exc)})", path=path) from exc
    assert res is not None
    fails = [
        (int(res[1 + 2 * k]), k, col, msg, res[2 + 2 * k])
        for k, (col, _, msg, _) in enumerate(checks)
        if res[1 + 2 * k] is not None
    ]
    if fails:
        row, _, col, msg, value = min(fails, key=lambda f: (f[0], f[1]))
        raise InputError(msg, path=path, column=col, row=row, value=value)
    return int(res[0])


def read_node_table(cfg: NodeTableConfig) -> pa.Table:
    """Column `id` plus one column per feature (named by the feature), validated.

    Checks: id present, not null and unique; every feature column present and non-null;
    `categorical` is a scalar column, `multi_hot` a list column, `dense` a list/array of
    numbers with the same length on every row (returned as fixed-size list<float32>).
    """
    con = duckdb.connect()
    try:
        path, fmt, schema = _open_single(con, cfg.path)
        _require(schema, cfg.id_column, path, "id")
        idq = qident(cfg.id_column)
        checks = [(cfg.id_column, f"{idq} IS NULL", "null id", "NULL")]
        extra = [f"row_number() OVER (PARTITION BY {idq} ORDER BY __row) AS __dup"]
        checks.append((cfg.id_column, f"__dup > 1 AND {idq} IS NOT NULL", "duplicate id", f"CAST({idq} AS VARCHAR)"))
        select = [f"{idq} AS id"]
        for k, feat in enumerate(cfg.features):
            col = feat.column or feat.name
            _require(schema, col, path, f"feature '{feat.name}'")
            dtype, c = schema[col], qident(col)
            checks.append((col, f"{c} IS NULL", f"null {feat.kind} feature", "NULL"))
            if feat.kind == "categorical":
                if _is_list(dtype) or dtype.upper().startswith(("STRUCT", "MAP")):
                    raise InputError(f"categorical feature must be one value per row, got {dtype}", path=path, column=col)
                select.append(f"{c} AS {qident(feat.name)}")
            elif feat.kind == "multi_hot":
                if not _is_list(dtype):
                    raise InputError(f"multi_hot feature must be a list column, got {dtype}", path=path, column=col)
                select.append(f"{c} AS {qident(feat.name)}")
            else:  # dense
                if not _is_list(dtype) or _element_type(dtype) not in _NUMERIC:
                    raise InputError(
                        f"dense feature must be a list/array of numbers, got {dtype}", path=path, column=col
                    )
                extra.append(f"first_value(len({c})) OVER (ORDER BY __row) AS __len{k}")
                checks.append(
                    (col, f"{c} IS NOT NULL AND len({c}) <> __len{k}", "dense vectors of unequal length",
                     f"len({c})")
                )  # fmt: skip
                checks.append(
                    (col, f"list_aggregate(CAST({c} AS DOUBLE[]), 'count') < len({c}) "
                     f"OR NOT isfinite({nostats(f'list_sum(CAST({c} AS DOUBLE[]))')})",
                     "dense vector holds a null or non-finite number", "NULL")
                )  # fmt: skip
                select.append((c, feat.name))  # type: ignore[arg-type]
        n = _first_failure(con, path, fmt, checks, ", ".join(extra))
        if n == 0:
            raise InputError("empty node table", path=path)
        dims: dict[str, int] = {}
        cols = []
        for item in select:
            if isinstance(item, tuple):
                c, name = item
                dim = con.execute(f"SELECT len({c}) FROM {scan_sql(path, fmt)} LIMIT 1").fetchall()[0][0]  # type: ignore[index]
                dims[name] = int(dim)
                cols.append(f"CAST({c} AS FLOAT[{int(dim)}]) AS {qident(name)}")
            else:
                cols.append(item)
        return to_arrow(con.sql(f"SELECT {', '.join(cols)} FROM {scan_sql(path, fmt)}"))
    finally:
        con.close()


def read_side_edges(cfg: SideEdgeTableConfig) -> pa.Table:
    """Columns `src`, `dst`, `weight` (float32, 1.0 when no weight column); null ids and negative/NaN weights refused."""
    con = duckdb.connect()
    try:
        path, fmt, schema = _open_single(con, cfg.path)
        _require(schema, cfg.src_column, path, "source id")
        _require(schema, cfg.dst_column, path, "destination id")
        s, d = qident(cfg.src_column), qident(cfg.dst_column)
        checks = [
            (cfg.src_column, f"{s} IS NULL", "null id", "NULL"),
            (cfg.dst_column, f"{d} IS NULL", "null id", "NULL"),
        ]
        weight = "CAST(1.0 AS FLOAT)"
        if cfg.weight_column is not None:
            _require(schema, cfg.weight_column, path, "weight")
            w = qident(cfg.weight_column)
            wv = f"TRY_CAST({nostats(w)} AS DOUBLE)"
            checks += [
                (cfg.weight_column, f"{w} IS NULL", "null weight", "NULL"),
                (cfg.weight_column, f"{w} IS NOT NULL AND ({wv} IS NULL OR NOT isfinite({wv}))",
                 "weight is not a finite number", f"CAST({w} AS VARCHAR)"),
                (cfg.weight_column, f"{wv} < 0", "negative weight", f"CAST({w} AS VARCHAR)"),
            ]  # fmt: skip
            weight = f"CAST({wv} AS FLOAT)"
        n = _first_failure(con, path, fmt, checks)
        if n == 0:
            raise InputError("empty side-edge table", path=path)
        return to_arrow(
            con.sql(f"SELECT {s} AS src, {d} AS dst, {weight} AS weight FROM {scan_sql(path, fmt)}")
        )
    finally:
        con.close()
