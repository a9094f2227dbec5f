"""Read event files into the canonical event schema, validating them on the way in.

Reading and validation run in DuckDB: files are scanned out of core, every check is a
vectorised SQL predicate, and one aggregate pass finds the first offending row of every
check at once (`min(row) FILTER (WHERE bad)`) instead of one query per check. A bad file is
reported as `file, column 'c', row N: what is wrong (value: ...)`, N the 1-based data row of
that file. Parquet with a numeric time column stays a view (validation is one scan; 10M rows
in 3.6 s on 2 loaded cores, docs/benchmarks.md); anything that needs parsing (CSV, JSON,
time strings) becomes a table parsed once and validated on the parsed rows.

Canonical columns (see docs/architecture.md): user_id, item_id, item_type VARCHAR,
domain VARCHAR, event VARCHAR, ts BIGINT, value DOUBLE.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

import duckdb
import pyarrow as pa

from rankgraph.config.data import CANONICAL_COLUMNS, DataConfig
from rankgraph.errors import InputError

FORMATS = ("parquet", "csv", "jsonl")
_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_COMPRESSION = (".gz", ".zst")
# A string timestamp that carries a UTC offset must be parsed as TIMESTAMPTZ (TIMESTAMP
# silently drops the offset); a naive one is read as UTC.
_OFFSET_RE = r"[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([+-]\d{2}(:?\d{2})?)$"
_INT_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}  # fmt: skip
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}


def qident(name: str) -> str:
    """Quote a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def qlit(value: str) -> str:
    """Quote a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def to_arrow(result: duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation) -> pa.Table:
    """Fetch a DuckDB result as a pyarrow Table across DuckDB versions."""
    for attr in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        fn = getattr(result, attr, None)
        if fn is not None:
            out = fn()
            return out.read_all() if isinstance(out, pa.RecordBatchReader) else out
    raise RuntimeError("this DuckDB version cannot return Arrow tables")


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def detect_format(path: str, fmt: str = "auto") -> str:
    """The reader for `path`: `fmt` unless it is `auto`, else the file extension's."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}, expected one of {FORMATS}", path=path)
        return fmt
    name = path.lower()
    for comp in _COMPRESSION:
        if name.endswith(comp):
            name = name[: -len(comp)]
    ext = os.path.splitext(name)[1]
    if ext not in _EXTENSIONS:
        raise InputError(
            f"cannot tell the format from extension {ext!r}; set data.format to one of {FORMATS}",
            path=path,
        )
    return _EXTENSIONS[ext]


def resolve_files(patterns: list[str] | str) -> list[str]:
    """Expand paths and glob patterns in order; refuse a pattern that matches no file."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns:
        raise InputError("no event files configured (data.events is empty)")
    files: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not matches:
                raise InputError("no file matches this pattern", path=pattern)
            files.extend(matches)
        else:
            if not os.path.isfile(pattern):
                raise InputError("file not found", path=pattern)
            files.append(pattern)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def scan_sql(path: str, fmt: str, *, row_number: bool = False) -> str:
    """A `FROM`-able SQL scan of one file; with `row_number`, adds `__row` (1-based data row)."""
    lit = qlit(path)
    if fmt == "parquet":
        if row_number:
            return (
                f"(SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS __row "
                f"FROM read_parquet({lit}, file_row_number = true))"
            )
        return f"read_parquet({lit})"
    if fmt == "csv":
        src = f"read_csv({lit}, header = true)"
    elif fmt == "jsonl":
        src = f"read_json({lit}, format = 'newline_delimited')"
    else:  # pragma: no cover - detect_format guards this
        raise ValueError(fmt)
    if row_number:
        # An empty OVER () is a streaming window in DuckDB: it numbers rows in scan order.
        return f"(SELECT *, row_number() OVER () AS __row FROM {src})"
    return src


def describe_file(con: duckdb.DuckDBPyConnection, path: str, fmt: str) -> dict[str, str]:
    """Column name -> DuckDB type of one file; an unreadable file becomes an InputError."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {scan_sql(path, fmt)}").fetchall()
    except duckdb.Error as exc:
        raise InputError(f"unreadable {fmt} file ({_first_line(exc)})", path=path) from exc
    return {r[0]: r[1] for r in rows}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------
# Column expressions
# ---------------------------------------------------------------------------------------


def ts_expr(
    col: str,
    dtype: str,
    time_unit: str,
    path: str,
    *,
    utc_session: bool = False,
    numeric_first: bool = True,
) -> str:
    """SQL turning the input time column into BIGINT seconds (or periods); NULL if unparseable.

    Strings may hold integers, floats or ISO dates with or without a UTC offset (naive means
    UTC). With `utc_session` (the caller has set the session TimeZone to UTC) one
    TIMESTAMPTZ cast reads both ISO forms, about 4x faster than the session-independent
    expression; `numeric_first` orders the COALESCE so the column's usual form is tried
    first (later branches only run for rows the first one failed).
    """
    c = qident(col)
    base = dtype.split("(")[0].upper()
    if base in _INT_TYPES:
        return f"CAST({c} AS BIGINT)"
    if base in _FLOAT_TYPES or base == "DECIMAL":
        d = f"CAST({nostats(c)} AS DOUBLE)"
        if time_unit == "period":  # a period must be a whole number
            return f"CASE WHEN isfinite({d}) AND {d} = floor({d}) THEN CAST({d} AS BIGINT) END"
        return f"CASE WHEN isfinite({d}) THEN CAST(floor({d}) AS BIGINT) END"
    if base.startswith("TIMESTAMP") or base == "DATE":
        if time_unit == "period":
            raise InputError(
                f"holds {dtype} values but data.time_unit is 'period' (expected period numbers)",
                path=path,
                column=col,
            )
        return f"CAST(floor(epoch({c})) AS BIGINT)"
    if base in ("VARCHAR", "JSON"):
        s = f"trim({text_expr(col, dtype)})"
        num = f"TRY_CAST({s} AS DOUBLE)"
        # TRY_CAST('7.5' AS BIGINT) rounds, so only all-digit strings take the integer path.
        whole = f"CASE WHEN regexp_full_match({s}, '[+-]?[0-9]+') THEN TRY_CAST({s} AS BIGINT) END"
        if time_unit == "period":
            return (
                f"COALESCE({whole}, "
                f"CASE WHEN isfinite({num}) AND {num} = floor({num}) THEN CAST({num} AS BIGINT) END)"
            )
        numeric = [whole, f"CASE WHEN isfinite({num}) THEN CAST(floor({num}) AS BIGINT) END"]
        if utc_session:
            raw = text_expr(col, dtype)
            iso = [f"CAST(floor(epoch(TRY_CAST({raw} AS TIMESTAMPTZ))) AS BIGINT)"]
        else:
            iso = [
                f"CASE WHEN regexp_matches({s}, {qlit(_OFFSET_RE)}) "
                f"THEN CAST(floor(epoch(TRY_CAST({s} AS TIMESTAMPTZ))) AS BIGINT) "
                f"ELSE CAST(floor(epoch(TRY_CAST({s} AS TIMESTAMP))) AS BIGINT) END"
            ]
        parts = numeric + iso if numeric_first else iso + numeric
        return f"COALESCE({', '.join(parts)})"
    raise InputError(f"type {dtype} cannot hold a timestamp", path=path, column=col)


def nostats(expr: str) -> str:
    """`expr` hidden from DuckDB's statistics propagation.

    Parquet writers leave NaN out of min/max statistics, and DuckDB then folds `isnan(x)`
    to false for such a column (seen with DuckDB 2.0): wrapping the value in a one-element
    list and taking it back out keeps NaN checks honest.
    """
    return f"([{expr}][1])"


def text_expr(col: str, dtype: str) -> str:
    """SQL giving the column as VARCHAR; JSON values (mixed-type JSONL) lose their quotes."""
    c = qident(col)
    if dtype.split("(")[0].upper() == "JSON":
        return f"json_extract_string({c}, '$')"
    return f"CAST({c} AS VARCHAR)"


def value_expr(col: str, dtype: str) -> str:
    """SQL turning the input value column into DOUBLE (NULL when not a number)."""
    c = qident(col)
    if dtype.split("(")[0].upper() in ("VARCHAR", "JSON"):
        return f"TRY_CAST(trim({text_expr(col, dtype)}) AS DOUBLE)"
    return f"TRY_CAST({nostats(c)} AS DOUBLE)"


def id_expr(col: str, dtype: str) -> str:
    """Ids keep their integer type (as BIGINT) or become VARCHAR."""
    c = qident(col)
    base = dtype.split("(")[0].upper()
    if base in _INT_TYPES and base not in ("HUGEINT", "UBIGINT", "UHUGEINT"):
        return f"CAST({c} AS BIGINT)"
    return text_expr(col, dtype)


@dataclass
class _FilePlan:
    """How one file maps onto the canonical columns."""

    path: str
    fmt: str
    exprs: dict[str, str]  # canonical column -> SQL expression over the file's columns
    source: dict[str, str | None]  # canonical column -> input column (None: a constant)
    schema: dict[str, str]  # input column -> DuckDB type
    string_ts: bool = False  # the time column holds text (parsed at every scan)
    ts_numeric_first: bool = True  # most sampled time strings are numbers

    def with_utc_session(self, cfg: DataConfig) -> _FilePlan:
        """The same plan with the faster time parsing valid in a UTC session."""
        col = self.source["ts"]
        assert col is not None
        exprs = dict(self.exprs)
        exprs["ts"] = ts_expr(
            col, self.schema[col], cfg.time_unit, self.path,
            utc_session=True, numeric_first=self.ts_numeric_first,
        )  # fmt: skip
        return replace(self, exprs=exprs)

    def select_sql(self, *, row_number: bool = False, file_index: int | None = None) -> str:
        cols = ", ".join(f"{expr} AS {qident(name)}" for name, expr in self.exprs.items())
        extra = ", __row" if row_number else ""
        if file_index is not None:
            extra += f", CAST({int(file_index)} AS INTEGER) AS __file"
        return f"SELECT {cols}{extra} FROM {scan_sql(self.path, self.fmt, row_number=row_number)}"


# Optional canonical columns: when mapped to their own canonical name and absent from a
# file they fall back to their default; mapped to another name, absence is an error.
_OPTIONAL = ("item_type", "domain", "value")


def plan_file(con: duckdb.DuckDBPyConnection, cfg: DataConfig, path: str) -> _FilePlan:
    """Check a file's columns against the mapping and build its canonical projection."""
    fmt = detect_format(path, cfg.format)
    schema = describe_file(con, path, fmt)
    mapping = cfg.columns
    source: dict[str, str | None] = {}
    for canon in CANONICAL_COLUMNS:
        col = getattr(mapping, canon)
        if col is None:
            source[canon] = None
        elif col in schema:
            source[canon] = col
        elif canon in _OPTIONAL and col == canon:
            source[canon] = None
        else:
            have = ", ".join(schema) or "(none)"
            raise InputError(
                f"missing column (data.columns.{canon} = {col!r}); the file has: {have}",
                path=path,
                column=col,
            )
    exprs: dict[str, str] = {}
    exprs["user_id"] = id_expr(source["user_id"], schema[source["user_id"]])  # type: ignore[index]
    exprs["item_id"] = id_expr(source["item_id"], schema[source["item_id"]])  # type: ignore[index]
    it = source["item_type"]
    exprs["item_type"] = text_expr(it, schema[it]) if it else qlit(cfg.default_item_type)
    dom = source["domain"]
    exprs["domain"] = text_expr(dom, schema[dom]) if dom else exprs["item_type"]
    ev = source["event"]
    exprs["event"] = text_expr(ev, schema[ev])  # type: ignore[index,arg-type]
    ts_col = source["ts"]
    assert ts_col is not None
    string_ts = schema[ts_col].split("(")[0].upper() in ("VARCHAR", "JSON")
    numeric_first = True
    if string_ts and cfg.time_unit == "seconds":
        numeric_first = _mostly_numeric(con, path, fmt, ts_col, schema[ts_col])
    exprs["ts"] = ts_expr(ts_col, schema[ts_col], cfg.time_unit, path, numeric_first=numeric_first)
    val = source["value"]
    exprs["value"] = value_expr(val, schema[val]) if val else "CAST(1.0 AS DOUBLE)"
    return _FilePlan(
        path=path, fmt=fmt, exprs=exprs, source=source, schema=schema,
        string_ts=string_ts, ts_numeric_first=numeric_first,
    )  # fmt: skip


def _mostly_numeric(con: duckdb.DuckDBPyConnection, path: str, fmt: str, col: str, dtype: str) -> bool:
    """Whether most of the first 1,000 time strings are numbers (orders the parsing branches)."""
    text = text_expr(col, dtype)
    try:
        row = con.execute(
            f"SELECT avg(CASE WHEN TRY_CAST(trim(t) AS DOUBLE) IS NOT NULL THEN 1.0 ELSE 0.0 END) "
            f"FROM (SELECT {text} AS t FROM {scan_sql(path, fmt)} WHERE {qident(col)} IS NOT NULL LIMIT 1000)"
        ).fetchall()[0]
    except duckdb.Error as exc:
        raise InputError(f"unreadable {fmt} file ({_first_line(exc)})", path=path) from exc
    return row[0] is None or row[0] >= 0.5


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------


def _checks(plan: _FilePlan, cfg: DataConfig) -> list[tuple[str, str, str, str]]:
    """(canonical column, SQL predicate over raw+canonical, message, raw value SQL), in report order."""
    src = plan.source
    e = plan.exprs
    out: list[tuple[str, str, str, str]] = []

    def raw(canon: str) -> str:
        return qident(src[canon]) if src[canon] else "NULL"

    for canon in ("user_id", "item_id"):
        out.append((canon, f"{raw(canon)} IS NULL", "null id", "NULL"))
    if src["item_type"]:
        out.append(("item_type", f"{raw('item_type')} IS NULL", "null item type", "NULL"))
    if src["domain"]:
        out.append(("domain", f"{raw('domain')} IS NULL", "null domain", "NULL"))
    out.append(("event", f"{raw('event')} IS NULL", "null event", "NULL"))
    if cfg.event_types:
        allowed = ", ".join(qlit(t) for t in cfg.event_types)
        out.append(
            (
                "event",
                f"{e['event']} NOT IN ({allowed})",
                f"event type not in data.event_types {list(cfg.event_types)}",
                e["event"],
            )
        )
    out.append(("ts", f"{raw('ts')} IS NULL", "missing timestamp", "NULL"))
    what = "period number" if cfg.time_unit == "period" else "timestamp"
    out.append(
        (
            "ts",
            f"{raw('ts')} IS NOT NULL AND ({e['ts']}) IS NULL",
            f"unparseable {what}",
            text_expr(src["ts"], plan.schema[src["ts"]]),  # type: ignore[arg-type,index]
        )
    )
    if src["value"]:
        v = f"({e['value']})"
        out.append(("value", f"{raw('value')} IS NULL", "null value", "NULL"))
        out.append(
            (
                "value",
                f"{raw('value')} IS NOT NULL AND ({v} IS NULL OR isnan({v}))",
                "value is not a number",
                text_expr(src["value"], plan.schema[src["value"]]),
            )
        )
        out.append(("value", f"{v} < 0", "negative value", text_expr(src["value"], plan.schema[src["value"]])))
    return out


def validate_file(con: duckdb.DuckDBPyConnection, plan: _FilePlan, cfg: DataConfig) -> int:
    """Run every check over one file in one aggregate pass; raise on the first failing check.

    Returns the file's row count.
    """
    checks = _checks(plan, cfg)
    aggs = ["count(*)"]
    for _, pred, _, val in checks:
        aggs.append(f"min(__row) FILTER (WHERE {pred})")
        aggs.append(f"arg_min({val}, __row) FILTER (WHERE {pred})")
    sql = (
        f"SELECT {', '.join(aggs)} FROM {scan_sql(plan.path, plan.fmt, row_number=True)}"
    )
    try:
        res = con.execute(sql).fetchall()[0]
    except duckdb.Error as exc:
        raise InputError(f"unreadable {plan.fmt} file ({_first_line(exc)})", path=plan.path) from exc
    assert res is not None
    n = int(res[0])
    failures = []
    for k, (canon, _, message, _) in enumerate(checks):
        row = res[1 + 2 * k]
        if row is not None:
            failures.append((int(row), k, canon, message, res[2 + 2 * k]))
    if failures:
        # The earliest offending row wins; among checks on the same row, the listed order.
        row, _, canon, message, value = min(failures, key=lambda f: (f[0], f[1]))
        raise InputError(message, path=plan.path, column=plan.source[canon] or canon, row=row, value=value)
    return n


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def open_events(
    con: duckdb.DuckDBPyConnection,
    cfg: DataConfig,
    name: str = "events",
    validate: bool = True,
    materialize: bool | None = None,
) -> int:
    """Register `name` in `con` with the canonical event columns; return its row count.

    `materialize`: True makes `name` a table, False a view over the files; None (default)
    picks a view when every file is Parquet with a non-text time column (re-scanning such
    Parquet is cheap) and a table otherwise, so CSV/JSON and time strings are parsed once,
    not at every query. Naive time strings are read as UTC whatever the session time zone.
    Raises InputError naming file, column and first offending row when `validate` is set.
    """
    files = resolve_files(cfg.events)
    plans = [plan_file(con, cfg, f) for f in files]
    string_ts = any(p.string_ts for p in plans)
    if materialize is None:
        materialize = string_ts or any(p.fmt != "parquet" for p in plans)
    # A table is parsed once, so it may use the faster UTC-session time parsing; a view is
    # parsed at every query in whatever session time zone is current then, so it may not.
    utc = bool(materialize and string_ts and cfg.time_unit == "seconds")
    if utc:
        plans = [p.with_utc_session(cfg) if p.string_ts else p for p in plans]
    with _utc_session(con, utc):
        _drop_existing(con, name)
        if materialize and validate:
            count = _materialize_validated(con, cfg, plans, name)
        else:
            if validate:
                total = sum(validate_file(con, plan, cfg) for plan in plans)
                if total == 0:
                    raise InputError("no events: every input file is empty", path=", ".join(files))
            union = "\nUNION ALL\n".join(p.select_sql() for p in plans)
            kind = "TABLE" if materialize else "VIEW"
            try:
                con.execute(f"CREATE {kind} {qident(name)} AS {union}")
                count = con.execute(f"SELECT count(*) FROM {qident(name)}").fetchall()[0][0]
            except duckdb.Error as exc:
                raise InputError(f"cannot read events ({_first_line(exc)})", path=", ".join(files)) from exc
    if count == 0:
        raise InputError("no events: every input file is empty", path=", ".join(files))
    return int(count)


def _materialize_validated(
    con: duckdb.DuckDBPyConnection, cfg: DataConfig, plans: list[_FilePlan], name: str
) -> int:
    """Parse every file once into table `name`, then validate the parsed table.

    Each row keeps its file index and data row number while the checks run, so the files
    are read and their time strings parsed a single time. When a check fails, the first
    failing file is validated again on its own (error path only), which names the exact
    column, row, raw value and reason.
    """
    files = ", ".join(p.path for p in plans)
    union = "\nUNION ALL\n".join(p.select_sql(row_number=True, file_index=k) for k, p in enumerate(plans))
    table = qident(name)
    try:
        con.execute(f"CREATE TABLE {table} AS {union}")
    except duckdb.Error as exc:
        raise InputError(f"cannot read events ({_first_line(exc)})", path=files) from exc
    bad = [f"{c} IS NULL" for c in CANONICAL_COLUMNS]
    bad += [f"isnan({nostats('value')})", "value < 0"]
    if cfg.event_types:
        bad.append(f"event NOT IN ({', '.join(qlit(t) for t in cfg.event_types)})")
    where = " OR ".join(f"({b})" for b in bad)
    try:
        count, first_bad = con.execute(
            f"SELECT count(*), min(__file) FILTER (WHERE {where}) FROM {table}"
        ).fetchall()[0]
        if first_bad is not None:
            validate_file(con, plans[int(first_bad)], cfg)  # raises the precise InputError
            raise InputError("invalid events (the check on the parsed table failed)", path=plans[int(first_bad)].path)
        con.execute(f"ALTER TABLE {table} DROP COLUMN __row")
        con.execute(f"ALTER TABLE {table} DROP COLUMN __file")
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        raise
    return int(count)


@contextlib.contextmanager
def _utc_session(con: duckdb.DuckDBPyConnection, active: bool) -> Iterator[None]:
    """Set the session TimeZone to UTC for the block (naive time strings are UTC), then restore it."""
    if not active:
        yield
        return
    before = con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
    con.execute("SET TimeZone = 'UTC'")
    try:
        yield
    finally:
        con.execute(f"SET TimeZone = {qlit(before)}")


def _drop_existing(con: duckdb.DuckDBPyConnection, name: str) -> None:
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = current_schema()",
        [name],
    ).fetchall()
    if not rows:
        return
    row = rows[0]
    kind = "VIEW" if row[0] == "VIEW" else "TABLE"
    con.execute(f"DROP {kind} {qident(name)}")


def read_events(cfg: DataConfig, validate: bool = True) -> pa.Table:
    """The canonical events as an Arrow table (reads through a private DuckDB connection)."""
    con = duckdb.connect()
    try:
        open_events(con, cfg, "events", validate=validate)
        return to_arrow(con.sql("SELECT * FROM events"))
    finally:
        con.close()

