"""The one temporal train/test split used by build, evaluate and every baseline.

train = events with ts < cut; test = events with ts >= cut whose user and item node
(item_type, item_id) both appear in train (a model cannot embed what it never saw). The
split is a pair of DuckDB views over the events, so a 10M-row world is never copied;
`to_arrow` materialises either side when a caller needs it in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

from rankgraph.errors import ConfigError, InputError
from rankgraph.data.events import qident, to_arrow

SECONDS_PER_YEAR = 365 * 86400


@dataclass
class SplitResult:
    """The cut, the names of the train/test views in `con`, and what the split dropped.

    report keys: `cut`, `rows`, `train_rows`, `test_rows_raw` (ts >= cut), `test_rows`,
    `dropped_unseen_user` (test rows whose user is not in train), `dropped_unseen_item`
    (user seen, item node not in train).
    """

    cut: int
    con: duckdb.DuckDBPyConnection
    train: str
    test: str
    report: dict[str, int] = field(default_factory=dict)

    def to_arrow(self, side: str) -> pa.Table:
        """Materialise `train` or `test` as an Arrow table."""
        if side not in ("train", "test"):
            raise ValueError(f"side must be 'train' or 'test', got {side!r}")
        return to_arrow(self.con.sql(f"SELECT * FROM {qident(getattr(self, side))}"))


def _connect(con_or_table: duckdb.DuckDBPyConnection | pa.Table, source: str) -> tuple[duckdb.DuckDBPyConnection, str]:
    if isinstance(con_or_table, duckdb.DuckDBPyConnection):
        return con_or_table, source
    if isinstance(con_or_table, pa.Table):
        con = duckdb.connect()
        con.register("__split_source", con_or_table)
        return con, "__split_source"
    raise TypeError(f"expected a DuckDB connection or a pyarrow Table, got {type(con_or_table).__name__}")


def parse_cut(value: str | int | float, time_unit: str = "seconds") -> int:
    """A cut as BIGINT: a number (seconds or period) or, for seconds, an ISO date/datetime (UTC if naive)."""
    if isinstance(value, bool):
        raise ConfigError(f"cut {value!r} is not a date or a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"cut {value!r} is not a finite number")
        return int(math.floor(value))
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return parse_cut(float(text), time_unit)
    except (ValueError, ConfigError):
        pass
    if time_unit == "period":
        raise ConfigError(f"cut {value!r}: data.time_unit is 'period', so the cut must be a period number")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"cut {value!r} is neither an ISO date (2011-01-31) nor a number") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(math.floor(when.timestamp()))


def format_cut(cut: int, time_unit: str = "seconds") -> str:
    """The inverse of `parse_cut` for configs: an ISO UTC datetime for seconds, the number for periods."""
    if time_unit == "period":
        return str(cut)
    return datetime.fromtimestamp(cut, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_tang_cut(
    con_or_table: duckdb.DuckDBPyConnection | pa.Table, time_unit: str = "seconds", source: str = "events"
) -> int:
    """Test on the last 12 months (unix seconds) or on the last period (period numbers)."""
    con, src = _connect(con_or_table, source)
    row = con.execute(f"SELECT max(ts) FROM {qident(src)}").fetchall()[0]
    if row is None or row[0] is None:
        raise InputError("no events to choose a cut from", path=src)
    last = int(row[0])
    return last if time_unit == "period" else last - SECONDS_PER_YEAR


def temporal_split(
    con_or_table: duckdb.DuckDBPyConnection | pa.Table,
    cut: int | None = None,
    fraction: float | None = None,
    *,
    source: str = "events",
    prefix: str = "",
) -> SplitResult:
    """Split canonical events at `cut` (or at the ts quantile leaving `fraction` of rows in test).

    `con_or_table`: a DuckDB connection holding the canonical view `source` (see
    `open_events`), or an Arrow table of canonical events (then a private connection is
    made and returned in the result). Creates views `<prefix>train` and `<prefix>test`.
    """
    con, src = _connect(con_or_table, source)
    if cut is None and fraction is None:
        raise ConfigError("temporal_split needs a cut or a test fraction")
    if cut is not None and fraction is not None:
        raise ConfigError("temporal_split takes a cut or a test fraction, not both")
    if cut is None:
        assert fraction is not None
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"test fraction must be in (0, 1), got {fraction}")
        row = con.execute(
            f"SELECT quantile_disc(ts, {1.0 - float(fraction)!r}) FROM {qident(src)}"
        ).fetchall()[0]
        if row is None or row[0] is None:
            raise InputError("no events to split", path=src)
        cut = int(row[0])
    cut = int(cut)
    train, test = f"{prefix}train", f"{prefix}test"
    s, tr, te = qident(src), qident(train), qident(test)
    con.execute(f"CREATE OR REPLACE VIEW {tr} AS SELECT * FROM {s} WHERE ts < {cut}")
    seen_user = f"user_id IN (SELECT DISTINCT user_id FROM {tr})"
    seen_item = f"(item_type, item_id) IN (SELECT DISTINCT item_type, item_id FROM {tr})"
    con.execute(
        f"CREATE OR REPLACE VIEW {te} AS SELECT * FROM {s} "
        f"WHERE ts >= {cut} AND {seen_user} AND {seen_item}"
    )
    row = con.execute(
        f"""
        WITH users AS (SELECT DISTINCT user_id FROM {s} WHERE ts < {cut}),
             items AS (SELECT DISTINCT item_type, item_id FROM {s} WHERE ts < {cut}),
             future AS (
                SELECT e.user_id IN (SELECT user_id FROM users) AS u_ok,
                       (e.item_type, e.item_id) IN (SELECT item_type, item_id FROM items) AS i_ok
                FROM {s} e WHERE e.ts >= {cut})
        SELECT (SELECT count(*) FROM {s}),
               (SELECT count(*) FROM {s} WHERE ts < {cut}),
               count(*),
               count(*) FILTER (WHERE NOT u_ok),
               count(*) FILTER (WHERE u_ok AND NOT i_ok),
               count(*) FILTER (WHERE u_ok AND i_ok)
        FROM future
        """
    ).fetchall()[0]
    assert row is not None
    rows, train_rows, raw, no_user, no_item, kept = (int(x) for x in row)
    report = {
        "cut": cut,
        "rows": rows,
        "train_rows": train_rows,
        "test_rows_raw": raw,
        "test_rows": kept,
        "dropped_unseen_user": no_user,
        "dropped_unseen_item": no_item,
    }
    if train_rows == 0:
        raise InputError(f"the cut {cut} leaves no training events (every ts is >= cut)", path=src, column="ts")
    return SplitResult(cut=cut, con=con, train=train, test=test, report=report)
