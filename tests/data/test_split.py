"""rankgraph.data.split: the temporal split shared by build, evaluate and baselines."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from rankgraph.data.split import default_tang_cut, format_cut, parse_cut, temporal_split
from rankgraph.errors import ConfigError, InputError

# (user, item_type, item, ts)
ROWS = [
    (1, "post", 10, 100),
    (2, "post", 11, 110),
    (1, "video", 10, 120),
    (3, "post", 10, 130),
    (1, "post", 11, 200),  # test: seen user, seen item
    (4, "post", 10, 210),  # test: unseen user
    (2, "post", 99, 220),  # test: unseen item
    (2, "ad", 11, 230),  # test: item 11 seen as a post, not as an ad -> unseen node
    (3, "video", 10, 240),  # test: seen
]


def events() -> pa.Table:
    cols = list(zip(*ROWS))
    n = len(ROWS)
    return pa.table(
        {
            "user_id": pa.array(cols[0], pa.int64()),
            "item_id": pa.array(cols[2], pa.int64()),
            "item_type": list(cols[1]),
            "domain": list(cols[1]),
            "event": ["click"] * n,
            "ts": pa.array(cols[3], pa.int64()),
            "value": [1.0] * n,
        }
    )


def test_train_holds_no_event_at_or_after_cut():
    s = temporal_split(events(), cut=200)
    assert max(s.to_arrow("train").column("ts").to_pylist()) < 200
    assert s.report["train_rows"] == 4


def test_test_keeps_only_seen_users_and_item_nodes():
    s = temporal_split(events(), cut=200)
    test = s.to_arrow("test")
    assert sorted(zip(test.column("user_id").to_pylist(), test.column("item_type").to_pylist())) == [
        (1, "post"),
        (3, "video"),
    ]
    assert min(test.column("ts").to_pylist()) >= 200


def test_report_counts_dropped_unseen_users_and_items():
    r = temporal_split(events(), cut=200).report
    assert r["test_rows_raw"] == 5
    assert r["dropped_unseen_user"] == 1
    assert r["dropped_unseen_item"] == 2
    assert r["test_rows"] == 2


def test_split_on_a_connection_creates_prefixed_views():
    con = duckdb.connect()
    con.register("ev", events())
    s = temporal_split(con, cut=200, source="ev", prefix="x_")
    assert (s.train, s.test) == ("x_train", "x_test")
    assert con.execute("SELECT count(*) FROM x_test").fetchall()[0][0] == 2


def test_fraction_puts_the_latest_rows_in_test():
    s = temporal_split(events(), fraction=0.5)
    assert s.cut == 200
    assert s.report["test_rows_raw"] == 5


def test_cut_before_all_events_is_refused():
    with pytest.raises(InputError, match="no training events"):
        temporal_split(events(), cut=50)


def test_split_needs_exactly_one_of_cut_and_fraction():
    with pytest.raises(ConfigError):
        temporal_split(events())
    with pytest.raises(ConfigError):
        temporal_split(events(), cut=200, fraction=0.2)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2020-01-01", 1577836800),
        ("2020-01-01T00:00:00Z", 1577836800),
        ("2020-01-01T01:00:00+01:00", 1577836800),
        ("1577836800", 1577836800),
        (1577836800, 1577836800),
        ("12.0", 12),
    ],
)
def test_parse_cut_reads_iso_dates_and_numbers(value, expected):
    assert parse_cut(value) == expected


def test_parse_cut_refuses_a_date_for_periods():
    with pytest.raises(ConfigError, match="period"):
        parse_cut("2020-01-01", "period")


def test_parse_cut_refuses_garbage():
    with pytest.raises(ConfigError):
        parse_cut("next tuesday")


def test_format_cut_round_trips():
    assert parse_cut(format_cut(1577836800)) == 1577836800
    assert parse_cut(format_cut(7, "period"), "period") == 7


def test_default_tang_cut_is_last_year_or_last_period():
    t = events()
    assert default_tang_cut(t, "seconds") == 240 - 365 * 86400
    assert default_tang_cut(t, "period") == 240
