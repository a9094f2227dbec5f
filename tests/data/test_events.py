"""rankgraph.data.events: canonical events from Parquet/CSV/JSONL and input validation."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rankgraph.config.data import CANONICAL_COLUMNS, ColumnMapping, DataConfig
from rankgraph.data.events import open_events, read_events
from rankgraph.errors import InputError

ROWS = [
    {"user_id": 1, "item_id": 10, "item_type": "post", "domain": "feed", "event": "click", "ts": 100, "value": 1.0},
    {"user_id": 2, "item_id": 11, "item_type": "video", "domain": "watch", "event": "like", "ts": 200, "value": 2.5},
    {"user_id": 1, "item_id": 11, "item_type": "video", "domain": "watch", "event": "click", "ts": 300, "value": 0.0},
]


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    lines = [",".join(columns)] + [",".join("" if r.get(c) is None else str(r[c]) for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def with_row(rows: list[dict], k: int, **changes) -> list[dict]:
    out = [dict(r) for r in rows]
    out[k].update(changes)
    return out


def error_of(cfg: DataConfig) -> InputError:
    with pytest.raises(InputError) as info:
        open_events(duckdb.connect(), cfg)
    return info.value


# ---- readers ---------------------------------------------------------------------------


def test_csv_jsonl_parquet_give_the_same_canonical_table(tmp_path):
    tables = []
    for writer, name in ((write_csv, "e.csv"), (write_jsonl, "e.jsonl"), (write_parquet, "e.parquet")):
        tables.append(read_events(DataConfig(events=[str(writer(tmp_path / name, ROWS))])))
    assert tables[0].column_names == list(CANONICAL_COLUMNS)
    assert tables[0].to_pylist() == ROWS
    assert tables[1].to_pylist() == ROWS
    assert tables[2].to_pylist() == ROWS


def test_open_events_types_are_canonical(tmp_path):
    con = duckdb.connect()
    open_events(con, DataConfig(events=[str(write_csv(tmp_path / "e.csv", ROWS))]))
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall())
    assert types == {
        "user_id": "BIGINT", "item_id": "BIGINT", "item_type": "VARCHAR", "domain": "VARCHAR",
        "event": "VARCHAR", "ts": "BIGINT", "value": "DOUBLE",
    }  # fmt: skip


def test_open_events_returns_row_count_of_all_files_in_a_glob(tmp_path):
    write_parquet(tmp_path / "a.parquet", ROWS)
    write_parquet(tmp_path / "b.parquet", ROWS[:2])
    con = duckdb.connect()
    assert open_events(con, DataConfig(events=[str(tmp_path / "*.parquet")])) == 5
    assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 5


def test_missing_optional_columns_take_defaults(tmp_path):
    rows = [{k: r[k] for k in ("user_id", "item_id", "event", "ts")} for r in ROWS]
    cfg = DataConfig(events=[str(write_csv(tmp_path / "e.csv", rows))], default_item_type="product")
    t = read_events(cfg)
    assert set(t.column("item_type").to_pylist()) == {"product"}
    assert t.column("domain").to_pylist() == t.column("item_type").to_pylist()
    assert t.column("value").to_pylist() == [1.0, 1.0, 1.0]


def test_column_mapping_renames_input_columns(tmp_path):
    rows = [{"uid": r["user_id"], "pid": r["item_id"], "action": r["event"], "time": r["ts"]} for r in ROWS]
    mapping = ColumnMapping(user_id="uid", item_id="pid", event="action", ts="time", item_type=None, domain=None, value=None)
    t = read_events(DataConfig(events=[str(write_csv(tmp_path / "e.csv", rows))], columns=mapping))
    assert t.column("user_id").to_pylist() == [1, 2, 1]
    assert t.column("ts").to_pylist() == [100, 200, 300]


def test_string_ids_stay_strings(tmp_path):
    rows = with_row(ROWS, 0, user_id="u-a")
    t = read_events(DataConfig(events=[str(write_jsonl(tmp_path / "e.jsonl", rows))]))
    assert t.column("user_id").to_pylist() == ["u-a", "2", "1"]


def test_open_events_table_or_view(tmp_path):
    con = duckdb.connect()
    open_events(con, DataConfig(events=[str(write_parquet(tmp_path / "e.parquet", ROWS))]), name="ev")
    open_events(con, DataConfig(events=[str(write_csv(tmp_path / "e.csv", ROWS))]), name="ev2")
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert kinds["ev"] == "VIEW"
    assert kinds["ev2"] == "BASE TABLE"


# ---- timestamps ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1577836800", 1577836800),
        ("1577836800.7", 1577836800),
        ("2020-01-01", 1577836800),
        ("2020-01-01T00:00:00", 1577836800),
        ("2020-01-01 00:00:00", 1577836800),
        ("2020-01-01T00:00:00Z", 1577836800),
        ("2020-01-01T02:00:00+02:00", 1577836800),
        ("2019-12-31T19:00:00-05:00", 1577836800),
    ],
)
def test_string_timestamps_become_unix_seconds(tmp_path, raw, expected):
    path = tmp_path / "e.jsonl"
    write_jsonl(path, [{"user_id": 1, "item_id": 2, "event": "click", "ts": raw}])
    assert read_events(DataConfig(events=[str(path)])).column("ts").to_pylist() == [expected]


def test_float_timestamps_are_floored(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", [{"user_id": 1, "item_id": 2, "event": "c", "ts": 1577836800.9}])
    assert read_events(DataConfig(events=[str(path)])).column("ts").to_pylist() == [1577836800]


def test_timestamp_typed_column_becomes_unix_seconds(tmp_path):
    import datetime as dt

    when = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    table = pa.table({"user_id": [1], "item_id": [2], "event": ["c"], "ts": pa.array([when], pa.timestamp("ms", tz="UTC"))})
    pq.write_table(table, tmp_path / "e.parquet")
    assert read_events(DataConfig(events=[str(tmp_path / "e.parquet")])).column("ts").to_pylist() == [1577836800]


def test_period_numbers_stay_as_they_are(tmp_path):
    path = write_csv(tmp_path / "e.csv", [{"user_id": 1, "item_id": 2, "event": "c", "ts": 7}])
    assert read_events(DataConfig(events=[str(path)], time_unit="period")).column("ts").to_pylist() == [7]


def test_fractional_period_is_refused(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", [{"user_id": 1, "item_id": 2, "event": "c", "ts": 7.5}])
    err = error_of(DataConfig(events=[str(path)], time_unit="period"))
    assert (err.column, err.row) == ("ts", 1)


# ---- bad input: every message names file, column and row -------------------------------


def test_missing_column_names_column_and_lists_file_columns(tmp_path):
    path = write_csv(tmp_path / "e.csv", ROWS, columns=["user_id", "item_id", "event", "value"])
    err = error_of(DataConfig(events=[str(path)]))
    assert err.path == str(path) and err.column == "ts"
    assert "user_id, item_id, event, value" in str(err)


def test_null_user_id_names_file_column_and_row(tmp_path):
    path = write_csv(tmp_path / "e.csv", with_row(ROWS, 2, user_id=None))
    err = error_of(DataConfig(events=[str(path)]))
    assert (err.path, err.column, err.row) == (str(path), "user_id", 3)
    assert "null id" in str(err) and str(path) in str(err) and "row 3" in str(err)


def test_null_item_id_in_parquet_names_row(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", with_row(ROWS, 1, item_id=None))
    err = error_of(DataConfig(events=[str(path)]))
    assert (err.path, err.column, err.row) == (str(path), "item_id", 2)


def test_unparseable_timestamp_names_value(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", with_row(ROWS, 1, ts="yesterday"))
    err = error_of(DataConfig(events=[str(path)]))
    assert (err.path, err.column, err.row, err.value) == (str(path), "ts", 2, "yesterday")


def test_unknown_event_type_is_refused(tmp_path):
    path = write_csv(tmp_path / "e.csv", ROWS)
    err = error_of(DataConfig(events=[str(path)], event_types=["click"]))
    assert (err.path, err.column, err.row, err.value) == (str(path), "event", 2, "like")


def test_empty_event_types_accepts_every_event(tmp_path):
    path = write_csv(tmp_path / "e.csv", ROWS)
    assert open_events(duckdb.connect(), DataConfig(events=[str(path)], event_types=[])) == 3


def test_negative_value_is_refused(tmp_path):
    path = write_csv(tmp_path / "e.csv", with_row(ROWS, 2, value=-1.0))
    err = error_of(DataConfig(events=[str(path)]))
    assert (err.path, err.column, err.row) == (str(path), "value", 3)
    assert "negative" in str(err)


def test_nan_value_is_refused(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", with_row(ROWS, 0, value=float("nan")))
    err = error_of(DataConfig(events=[str(path)]))
    assert (err.path, err.column, err.row) == (str(path), "value", 1)


def test_earliest_bad_row_is_reported_first(tmp_path):
    rows = with_row(with_row(ROWS, 2, user_id=None), 1, value=-3.0)
    err = error_of(DataConfig(events=[str(write_csv(tmp_path / "e.csv", rows))]))
    assert (err.column, err.row) == ("value", 2)


def test_bad_row_in_second_file_names_that_file(tmp_path):
    write_csv(tmp_path / "a.csv", ROWS)
    bad = write_csv(tmp_path / "b.csv", with_row(ROWS, 1, ts="not-a-time"))
    err = error_of(DataConfig(events=[str(tmp_path / "*.csv")]))
    assert (err.path, err.column, err.row) == (str(bad), "ts", 2)


def test_empty_input_is_refused(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,event,ts\n")
    err = error_of(DataConfig(events=[str(path)]))
    assert str(path) in str(err) and "no events" in str(err)


def test_glob_without_match_is_refused(tmp_path):
    pattern = str(tmp_path / "nothing*.parquet")
    err = error_of(DataConfig(events=[pattern]))
    assert err.path == pattern and "no file matches" in str(err)


def test_missing_file_is_refused(tmp_path):
    err = error_of(DataConfig(events=[str(tmp_path / "absent.csv")]))
    assert "not found" in str(err)


def test_unreadable_file_is_refused(tmp_path):
    path = tmp_path / "e.parquet"
    path.write_bytes(b"this is not parquet at all")
    err = error_of(DataConfig(events=[str(path)]))
    assert err.path == str(path) and "unreadable" in str(err)


def test_unknown_extension_asks_for_format(tmp_path):
    path = tmp_path / "e.dat"
    path.write_text("x")
    err = error_of(DataConfig(events=[str(path)]))
    assert "data.format" in str(err)


def test_nan_float_timestamp_is_unparseable(tmp_path):
    rows = [{"user_id": 1, "item_id": 2, "event": "c", "ts": t} for t in (float("nan"), 2.5, 0.0)]
    path = write_parquet(tmp_path / "e.parquet", rows)
    err = error_of(DataConfig(events=[str(path)]))
    assert (err.path, err.column, err.row) == (str(path), "ts", 1)


@pytest.mark.parametrize("materialize", [True, False])
def test_naive_time_strings_are_utc_in_any_session_time_zone(tmp_path, materialize):
    path = write_jsonl(tmp_path / "e.jsonl", [{"user_id": 1, "item_id": 2, "event": "c", "ts": "2020-01-01 00:00:00"},
                                              {"user_id": 1, "item_id": 2, "event": "c", "ts": "2020-01-01T05:00:00+05:00"}])  # fmt: skip
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")
    open_events(con, DataConfig(events=[str(path)]), materialize=materialize)
    assert [r[0] for r in con.execute("SELECT ts FROM events").fetchall()] == [1577836800, 1577836800]
    assert con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0] == "America/New_York"


def test_failed_validation_leaves_no_events_relation(tmp_path):
    con = duckdb.connect()
    path = write_csv(tmp_path / "e.csv", with_row(ROWS, 1, user_id=None))
    with pytest.raises(InputError):
        open_events(con, DataConfig(events=[str(path)]))
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'").fetchall()[0][0] == 0


def test_timestamp_column_with_period_time_unit_is_refused(tmp_path):
    import datetime as dt

    when = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    table = pa.table({"user_id": [1], "item_id": [2], "event": ["c"], "ts": pa.array([when], pa.timestamp("s", tz="UTC"))})
    pq.write_table(table, tmp_path / "e.parquet")
    err = error_of(DataConfig(events=[str(tmp_path / "e.parquet")], time_unit="period"))
    assert (err.path, err.column) == (str(tmp_path / "e.parquet"), "ts") and "period" in str(err)


def test_integer_and_string_ids_across_files_become_strings(tmp_path):
    write_csv(tmp_path / "a.csv", ROWS)
    write_jsonl(tmp_path / "b.jsonl", with_row(ROWS, 0, user_id="u-a"))
    t = read_events(DataConfig(events=[str(tmp_path / "a.csv"), str(tmp_path / "b.jsonl")]))
    assert t.schema.field("user_id").type == pa.string()
    assert sorted(t.column("user_id").to_pylist()) == ["1", "1", "1", "2", "2", "u-a"]
