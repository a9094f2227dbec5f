"""Pointwise ranking metrics: AUC, log loss, normalised entropy, and their slices.

NE (He et al., 2014) = log loss / entropy of the base rate, where the base rate is the
mean label of the same examples: 1.0 means "no better than predicting the average", lower
is better. A slice with a single class has no AUC (NaN) and, with base rate 0 or 1, no NE.
`recall_lift_correlation` relates embedding quality (Engagement Recall@K) to ranker lift.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.stats import pearsonr, rankdata, spearmanr

EPS = 1e-7


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney rank sum (ties count 1/2); NaN if one class."""
    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(p, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def logloss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy (natural log), probabilities clipped to [EPS, 1 - EPS]."""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return float("nan")
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def base_entropy(y: np.ndarray) -> float:
    """Entropy (nats) of a Bernoulli with the mean of `y`; 0 when `y` holds one class."""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return float("nan")
    q = float(y.mean())
    if q <= 0.0 or q >= 1.0:
        return 0.0
    return -(q * math.log(q) + (1.0 - q) * math.log(1.0 - q))


def normalized_entropy(y: np.ndarray, p: np.ndarray) -> float:
    """Log loss / entropy of the base rate; NaN when the labels hold one class."""
    h = base_entropy(y)
    return float("nan") if not h > 0 else logloss(y, p) / h


def binary_report(y: np.ndarray, p: np.ndarray) -> dict[str, float | int]:
    """{auc, logloss, ne, n, positives} of one set of examples."""
    y = np.asarray(y)
    return {"auc": auc(y, p), "logloss": logloss(y, p), "ne": normalized_entropy(y, p),
            "n": int(y.size), "positives": int(np.asarray(y, dtype=bool).sum())}


def sliced_report(y: np.ndarray, p: np.ndarray, slices: dict[str, np.ndarray]) -> dict[str, dict[str, float | int]]:
    """`binary_report` overall (`all`) and on each boolean mask in `slices`."""
    out = {"all": binary_report(y, p)}
    for name, mask in slices.items():
        out[name] = binary_report(y[mask], p[mask])
    return out


def mean_std(values: Sequence[float]) -> dict[str, float | int]:
    """Mean and sample standard deviation (ddof=1; 0 for one value), NaNs skipped."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def recall_lift_correlation(recalls: Sequence[float], lifts: Sequence[float]) -> dict[str, float | int]:
    """Pearson and Spearman correlation between embedding variants' Engagement Recall@K and the
    ranker lift they give (e.g. NE of `none` minus NE of the best fusion). Needs >= 3 variants."""
    r = np.asarray(recalls, dtype=np.float64)
    lift = np.asarray(lifts, dtype=np.float64)
    if r.shape != lift.shape:
        raise ValueError(f"{r.size} recalls for {lift.size} lifts")
    ok = np.isfinite(r) & np.isfinite(lift)
    r, lift = r[ok], lift[ok]
    if r.size < 3 or np.ptp(r) == 0 or np.ptp(lift) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "n": int(r.size)}
    return {"pearson": float(pearsonr(r, lift)[0]), "spearman": float(spearmanr(r, lift)[0]), "n": int(r.size)}
