"""Adapter for the Tang et al. product-review crawls (Ciao, Epinions): `.mat` or `.txt`.

A rating file has six columns: userid, productid, categoryid, rating, helpfulness, time;
a trust file two: trustor, trustee. `convert_tang(dir, out)` turns one crawl into canonical
events (`events.parquet`), user->user side edges (`edges/trusts.parquet`) and a ready
`rankgraph.yaml`, written atomically, and reports every row it dropped and why:

- rating 0 is not a rating (Ciao has 34 such rows): dropped;
- a (user, item) pair rated twice keeps only its latest rating (by time, then file order);
- trust self-links and repeated trust pairs are dropped.

Ratings become events `rate_5`, `rate_4`, `rate_low` (<= 3); category `12` becomes domain
`c12`; every item is of type `product`. Time is unix seconds, or a period number when the
time column holds small integers (some Epinions releases count months).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from rankgraph.artifact import atomic_dir
from rankgraph.errors import InputError

RATING_COLUMNS = ("userid", "productid", "categoryid", "rating", "helpfulness", "time")
TRUST_COLUMNS = ("trustor", "trustee")
EVENT_TYPES = ("rate_5", "rate_4", "rate_low")
ITEM_TYPE = "product"
# Below this the time column cannot be unix seconds of the web era (1e6 s is 12 days after
# 1970): it counts periods.
PERIOD_MAX = 1_000_000


@dataclass
class TangDataset:
    """What `convert_tang` wrote and what it dropped."""

    root: Path
    events_path: Path
    trust_path: Path | None
    config_path: Path
    time_unit: str
    counts: dict[str, int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def find_tang_files(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """The rating file and (optional) trust file of a crawl folder, found by name pattern.

    `.mat` wins over `.txt` when both are present; two candidates of the same kind are an
    error (ambiguous), as is a folder without a rating file.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError("not a folder (expected a Tang et al. crawl folder)", path=str(root))

    def pick(kind: str, required: bool) -> str | None:
        for ext in ("mat", "txt"):
            found = sorted(glob.glob(str(root / f"*{kind}*.{ext}")))
            found = [f for f in found if os.path.isfile(f)]
            if len(found) > 1:
                raise InputError(f"several {kind} files ({', '.join(found)}); keep one", path=str(root))
            if found:
                return found[0]
        if required:
            raise InputError(f"no *{kind}*.mat or *{kind}*.txt file", path=str(root))
        return None

    rating = pick("rating", True)
    assert rating is not None
    return rating, pick("trust", False)


def load_matrix(path: str, preferred: tuple[str, ...], min_cols: int) -> np.ndarray:
    """A 2-D numeric matrix from `.mat` (preferred variable, else the first 2-D numeric one) or `.txt`."""
    if path.lower().endswith(".mat"):
        import scipy.io

        try:
            mat = scipy.io.loadmat(path)
        except Exception as exc:  # scipy raises many types for a bad file
            raise InputError(f"unreadable .mat file ({exc})", path=path) from exc
        names = [k for k in mat if not k.startswith("__")]
        arrays = {
            k: mat[k]
            for k in names
            if isinstance(mat[k], np.ndarray) and mat[k].ndim == 2 and np.issubdtype(mat[k].dtype, np.number)
        }
        chosen = next((k for k in preferred if k in arrays), None)
        if chosen is None:
            chosen = next(iter(arrays), None)
        if chosen is None:
            raise InputError(f"no 2-D numeric variable (variables: {', '.join(names) or 'none'})", path=path)
        data = arrays[chosen]
    else:
        try:
            data = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except (OSError, ValueError) as exc:
            raise InputError(f"unreadable whitespace-separated text ({exc})", path=path) from exc
    if data.shape[1] < min_cols:
        raise InputError(f"{data.shape[1]} columns, expected at least {min_cols}", path=path)
    return data


def _int_column(data: np.ndarray, j: int, name: str, path: str) -> np.ndarray:
    """Column j as int64, refusing NaN/inf and non-whole numbers (named with their 1-based row)."""
    col = data[:, j]
    if np.issubdtype(col.dtype, np.integer):
        return col.astype(np.int64)
    col = col.astype(np.float64)
    bad = ~np.isfinite(col)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError("not a number", path=path, column=name, row=row + 1, value=float(col[row]))
    rounded = np.rint(col)
    # %e text files keep 8 significant digits: ids are exact, times are rounded to ~100 s.
    off = np.abs(col - rounded) > 1e-6 * np.maximum(1.0, np.abs(col))
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise InputError("not a whole number", path=path, column=name, row=row + 1, value=float(col[row]))
    return rounded.astype(np.int64)


def ratings_to_events(data: np.ndarray, path: str) -> tuple[pa.Table, str, dict[str, int]]:
    """Canonical events from a rating matrix; returns (table, time_unit, counts)."""
    user, item, cat, rating, helpful, ts = (
        _int_column(data, j, RATING_COLUMNS[j], path) for j in range(6)
    )
    n = len(user)
    bad = (rating < 0) | (rating > 5)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError("rating outside 0..5", path=path, column="rating", row=row + 1, value=int(rating[row]))
    keep = rating != 0
    zero = int(n - keep.sum())
    order = np.arange(n)[keep]
    # Latest rating per (user, item): sort by user, item, time, file order; keep each group's last.
    perm = np.lexsort((order, ts[order], item[order], user[order]))
    idx = order[perm]
    last = np.ones(len(idx), dtype=bool)
    same = (user[idx][1:] == user[idx][:-1]) & (item[idx][1:] == item[idx][:-1])
    last[:-1] = ~same
    idx = idx[last]
    dup = int(keep.sum() - len(idx))
    idx = idx[np.lexsort((item[idx], user[idx], ts[idx]))]  # chronological output
    time_unit = "period" if n and int(ts.max()) < PERIOD_MAX else "seconds"
    r = rating[idx]
    event = np.where(r >= 5, "rate_5", np.where(r == 4, "rate_4", "rate_low"))
    domain = np.char.add("c", cat[idx].astype(str))
    table = pa.table(
        {
            "user_id": pa.array(user[idx], pa.int64()),
            "item_id": pa.array(item[idx], pa.int64()),
            "item_type": pa.array(np.full(len(idx), ITEM_TYPE)),
            "domain": pa.array(domain),
            "event": pa.array(event),
            "ts": pa.array(ts[idx], pa.int64()),
            "value": pa.array(np.ones(len(idx)), pa.float64()),
            "rating": pa.array(r.astype(np.int8), pa.int8()),
            "helpfulness": pa.array(helpful[idx].astype(np.int16), pa.int16()),
        }
    )
    counts = {
        "raw_rows": n,
        "raw_users": int(np.unique(user).size),
        "raw_items": int(np.unique(item).size),
        "ts_min": int(ts.min()) if n else 0,
        "ts_max": int(ts.max()) if n else 0,
        "dropped_zero_rating": zero,
        "dropped_duplicate_pair": dup,
        "events": len(idx),
        "users": int(np.unique(user[idx]).size),
        "items": int(np.unique(item[idx]).size),
        "domains": int(np.unique(cat[idx]).size),
    }
    return table, time_unit, counts


def trust_to_edges(data: np.ndarray, path: str) -> tuple[pa.Table, dict[str, int]]:
    """user->user `trusts` edges without self-links or repeats."""
    src = _int_column(data, 0, TRUST_COLUMNS[0], path)
    dst = _int_column(data, 1, TRUST_COLUMNS[1], path)
    n = len(src)
    loop = src == dst
    pairs = np.unique(np.stack([src[~loop], dst[~loop]], axis=1), axis=0)
    table = pa.table(
        {
            "src": pa.array(pairs[:, 0], pa.int64()),
            "dst": pa.array(pairs[:, 1], pa.int64()),
            "weight": pa.array(np.ones(len(pairs), np.float32), pa.float32()),
        }
    )
    counts = {
        "trust_raw_rows": n,
        "trust_dropped_self_link": int(loop.sum()),
        "trust_dropped_duplicate": int((~loop).sum() - len(pairs)),
        "trust_edges": len(pairs),
    }
    return table, counts


# fractions of the newest train edges the popularity read-out may count (tuned on held-out edges)
TANG_POPULARITY_WINDOWS = (1.0, 0.3, 0.1, 0.03)
# betas tried with each window: finer and wider than the general default, as the chosen user
# beta sits at 1.5-2.5 on Ciao (tuning costs minutes since Engagement Recall searches only
# trigger items; docs/results.md, round 4)
TANG_POPULARITY_BETAS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
# Tang crawls are product categories a user mostly never touched: tune the read-out and the
# baselines for the cross-domain slice as much as for all pairs (on Ciao's validation year it
# cost 1% of overall Engagement Recall for 3.5x its cross-domain figure; docs/results.md, round 7)
TANG_CROSS_DOMAIN_WEIGHT = 1.0


def tang_config(time_unit: str, cut: str | None, with_trust: bool) -> dict[str, Any]:
    """The `rankgraph.yaml` body for a converted crawl (paths relative to the file)."""
    data: dict[str, Any] = {
        "events": ["events.parquet"],
        "format": "parquet",
        "columns": {c: c for c in ("user_id", "item_id", "item_type", "domain", "event", "ts", "value")},
        "event_types": list(EVENT_TYPES),
        "user_type": "user",
        "default_item_type": ITEM_TYPE,
        "time_unit": time_unit,
        "side_edges": [],
    }
    if with_trust:
        data["side_edges"].append(
            {"name": "trusts", "path": "edges/trusts.parquet", "src_type": "user", "dst_type": "user",
             "src_column": "src", "dst_column": "dst", "weight_column": "weight"}
        )  # fmt: skip
    graph: dict[str, Any] = {
        "engagement": [
            {"name": "rated", "item_types": [ITEM_TYPE], "events": {"rate_5": 3.0, "rate_4": 2.0, "rate_low": 1.0}}
        ],
        "semantic": [
            {"name": "co_rated", "kind": "item_item", "item_types": [ITEM_TYPE], "score": "cosine"},
            {"name": "co_rater", "kind": "user_user", "item_types": [ITEM_TYPE], "score": "cosine"},
        ],
        "use_side_edges": with_trust,
    }
    if cut is not None:
        graph["train_until"] = cut
    # Ratings span a decade and what is popular drifts: hold out the newest edges, so the
    # read-out can learn how recent its popularity term should be (docs/results.md, round 3)
    train = {"val_split": "temporal"}
    evaluate = {
        "popularity_recent_grid": list(TANG_POPULARITY_WINDOWS),
        "popularity_readout_grid": list(TANG_POPULARITY_BETAS),
        "tune_cross_domain_weight": TANG_CROSS_DOMAIN_WEIGHT,
    }
    return {"data": data, "graph": graph, "train": train, "evaluate": evaluate}


def convert_tang(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> TangDataset:
    """Convert a Tang et al. crawl folder into canonical files plus a ready `rankgraph.yaml`."""
    from rankgraph.data.split import default_tang_cut, format_cut

    rating_path, trust_path = find_tang_files(path)
    events, time_unit, counts = ratings_to_events(
        load_matrix(rating_path, ("rating",), len(RATING_COLUMNS)), rating_path
    )
    if counts["events"] == 0:
        raise InputError("no valid rating left after dropping rating 0", path=rating_path)
    edges = None
    if trust_path is not None:
        edges, tcounts = trust_to_edges(load_matrix(trust_path, ("trustnetwork", "trust"), 2), trust_path)
        users = np.unique(events.column("user_id").to_numpy())
        ends = np.concatenate([edges.column("src").to_numpy(), edges.column("dst").to_numpy()])
        tcounts["trust_users_without_ratings"] = int(np.setdiff1d(np.unique(ends), users).size)
        counts.update(tcounts)
    cut = default_tang_cut(events.select(["ts"]), time_unit)
    out = Path(out)
    with atomic_dir(out) as tmp:
        pq.write_table(events, tmp / "events.parquet")
        if edges is not None:
            (tmp / "edges").mkdir()
            pq.write_table(edges, tmp / "edges" / "trusts.parquet")
        body = tang_config(time_unit, format_cut(cut, time_unit), edges is not None)
        header = (
            f"# Converted by rankgraph.data.tang from {rating_path}"
            + (f" and {trust_path}" if trust_path else "")
            + "\n# Dropped: "
            + ", ".join(f"{k}={v}" for k, v in counts.items() if k.startswith(("dropped", "trust_dropped")))
            + "\n"
        )
        (tmp / "rankgraph.yaml").write_text(header + yaml.safe_dump(body, sort_keys=False))
    return TangDataset(
        root=out,
        events_path=out / "events.parquet",
        trust_path=out / "edges" / "trusts.parquet" if edges is not None else None,
        config_path=out / "rankgraph.yaml",
        time_unit=time_unit,
        counts=counts,
        sources={"rating": rating_path, **({"trust": trust_path} if trust_path else {})},
    )
