"""rankgraph.data.tang: the Tang et al. (Ciao, Epinions) adapter."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.io

from rankgraph.config import load_config
from rankgraph.data.events import open_events
from rankgraph.data.split import format_cut
from rankgraph.data.tables import read_side_edges
from rankgraph.data.tang import convert_tang, find_tang_files
from rankgraph.errors import InputError

# userid, productid, categoryid, rating, helpfulness, time
RATINGS = np.array(
    [
        [1, 10, 3, 5, 4, 1_300_000_000],
        [1, 11, 3, 0, 4, 1_300_000_100],  # rating 0: dropped
        [2, 10, 3, 2, 4, 1_300_000_200],
        [2, 10, 3, 4, 4, 1_300_000_500],  # later re-rating of (2, 10): kept
        [2, 10, 3, 1, 4, 1_300_000_300],  # earlier: dropped
        [3, 12, 7, 3, 4, 1_300_000_400],
        [3, 12, 7, 5, 4, 1_300_000_400],  # same time: the later row wins
    ],
    dtype=np.int32,
)
TRUST = np.array([[1, 2], [2, 3], [1, 2], [3, 3]], dtype=np.int32)


@pytest.fixture
def crawl(tmp_path: Path) -> Path:
    root = tmp_path / "crawl"
    root.mkdir()
    scipy.io.savemat(root / "site_rating_with_timestamp.mat", {"rating": RATINGS})
    scipy.io.savemat(root / "trustnetwork.mat", {"trustnetwork": TRUST})
    return root


def test_rating_zero_is_dropped_and_counted(crawl, tmp_path):
    ds = convert_tang(crawl, tmp_path / "out")
    assert ds.counts["raw_rows"] == 7
    assert ds.counts["dropped_zero_rating"] == 1
    assert 11 not in pq.read_table(ds.events_path).column("item_id").to_pylist()


def test_duplicate_pairs_keep_the_latest_rating(crawl, tmp_path):
    ds = convert_tang(crawl, tmp_path / "out")
    t = pq.read_table(ds.events_path).to_pylist()
    by_pair = {(r["user_id"], r["item_id"]): r for r in t}
    assert ds.counts["dropped_duplicate_pair"] == 3
    assert len(t) == 3
    assert by_pair[(2, 10)]["event"] == "rate_4" and by_pair[(2, 10)]["ts"] == 1_300_000_500
    assert by_pair[(3, 12)]["event"] == "rate_5"  # tie on time: the last row


def test_ratings_map_to_events_domains_and_product_type(crawl, tmp_path):
    ds = convert_tang(crawl, tmp_path / "out")
    t = pq.read_table(ds.events_path)
    assert sorted(t.column("event").to_pylist()) == ["rate_4", "rate_5", "rate_5"]
    assert set(t.column("domain").to_pylist()) == {"c3", "c7"}
    assert set(t.column("item_type").to_pylist()) == {"product"}
    assert ds.time_unit == "seconds"


def test_trust_drops_self_links_and_duplicates(crawl, tmp_path):
    ds = convert_tang(crawl, tmp_path / "out")
    edges = pq.read_table(ds.trust_path)
    assert sorted(zip(edges.column("src").to_pylist(), edges.column("dst").to_pylist())) == [(1, 2), (2, 3)]
    assert ds.counts["trust_dropped_self_link"] == 1
    assert ds.counts["trust_dropped_duplicate"] == 1


def test_written_config_loads_and_opens_events(crawl, tmp_path):
    ds = convert_tang(crawl, tmp_path / "out")
    cfg = load_config(ds.config_path)
    assert cfg.data.event_types == ["rate_5", "rate_4", "rate_low"]
    assert cfg.graph.engagement[0].name == "rated"
    assert cfg.graph.engagement[0].events == {"rate_5": 3.0, "rate_4": 2.0, "rate_low": 1.0}
    assert {s.kind for s in cfg.graph.semantic} == {"item_item", "user_user"}
    assert open_events(duckdb.connect(), cfg.data) == 3
    assert read_side_edges(cfg.data.side_edges[0]).num_rows == 2
    # the newest edges are held out, so the read-out can pick how recent its popularity is
    assert cfg.train.val_split == "temporal"
    assert cfg.evaluate.popularity_recent_grid == [1.0, 0.3, 0.1, 0.03]
    assert cfg.evaluate.tune_cross_domain_weight == 1.0
    assert cfg.evaluate.popularity_readout_grid == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]


def test_small_integer_times_are_periods(tmp_path):
    root = tmp_path / "epinions"
    root.mkdir()
    ratings = RATINGS.copy()
    ratings[:, 5] = [1, 1, 2, 3, 2, 4, 4]
    scipy.io.savemat(root / "epinions_rating.mat", {"data": ratings})  # not named 'rating'
    ds = convert_tang(root, tmp_path / "out")
    assert ds.time_unit == "period"
    assert load_config(ds.config_path).data.time_unit == "period"
    assert ds.trust_path is None


def test_txt_variant_reads_like_mat(crawl, tmp_path):
    root = tmp_path / "txt"
    root.mkdir()
    np.savetxt(root / "rating_with_timestamp.txt", RATINGS.astype(float), fmt="%15.7e")
    np.savetxt(root / "trust.txt", TRUST.astype(float), fmt="%15.7e")
    a = pq.read_table(convert_tang(crawl, tmp_path / "a").events_path)
    b = pq.read_table(convert_tang(root, tmp_path / "b").events_path)
    assert a.equals(b)


def test_folder_without_rating_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="rating"):
        find_tang_files(tmp_path)


def test_rating_file_with_too_few_columns_is_refused(tmp_path):
    scipy.io.savemat(tmp_path / "rating.mat", {"rating": RATINGS[:, :4]})
    with pytest.raises(InputError, match="columns"):
        convert_tang(tmp_path, tmp_path / "out")


def test_failed_conversion_leaves_no_output(tmp_path):
    scipy.io.savemat(tmp_path / "rating.mat", {"rating": RATINGS[:, :4]})
    with pytest.raises(InputError):
        convert_tang(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---- real data -------------------------------------------------------------------------


@pytest.mark.shared_data
def test_ciao_counts_match_its_readme(shared_data, tmp_path):
    ds = convert_tang(shared_data / "ciao", tmp_path / "ciao")
    c = ds.counts
    assert c["raw_rows"] == 284_086
    assert (c["raw_users"], c["raw_items"]) == (7_375, 105_114)
    assert format_cut(c["ts_min"])[:10] == "2000-05-30" and format_cut(c["ts_max"])[:10] == "2011-04-12"
    assert c["dropped_zero_rating"] == 34
    # README: 1,436 duplicate (user, item) pairs among raw rows; 3 of them involve a 0 rating.
    assert c["dropped_duplicate_pair"] == 1_433
    assert c["events"] == 284_086 - 34 - 1_433
    assert c["users"] == 7_375
    assert c["domains"] == 28
    assert c["trust_edges"] == 111_781
    assert c["trust_users_without_ratings"] == 0
    assert ds.time_unit == "seconds"


@pytest.mark.shared_data
def test_ciao_small_txt_release_counts(shared_data, tmp_path):
    ds = convert_tang(shared_data / "ciao" / "small_txt_release", tmp_path / "small")
    c = ds.counts
    assert c["raw_rows"] == 36_065
    assert c["users"] == 2_248
    assert c["items"] == 16_861
    assert c["domains"] == 6
    assert c["trust_raw_rows"] == 57_544
    assert ds.time_unit == "seconds"
