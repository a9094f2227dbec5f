"""Grid search of a baseline's hyper-parameters on a validation slice, never on test."""

from __future__ import annotations

import itertools
from typing import Any

from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.evaluator import evaluate


def tuning_score(part_metrics: dict[str, Any], name: str, cross_domain_weight: float = 0.0) -> float | None:
    """The objective every tuning maximises: `name` (e.g. `recall@100`) on the `all` slice of
    one part's metrics, plus `cross_domain_weight` times it on the `cross_domain` slice.

    None when no user could be scored; a slice without cross-domain targets adds nothing.
    """
    overall = part_metrics["all"][name]
    if overall is None:
        return None
    score = float(overall)
    if cross_domain_weight:
        cross = part_metrics.get("cross_domain", {}).get(name)
        score += cross_domain_weight * float(cross or 0.0)
    return score


def tune(
    baseline_cls: type,
    grid: dict[str, list[Any]],
    data: EvalData,
    cfg: EvaluateConfig,
    *,
    metric: str | None = None,
    fixed: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Best parameters of `baseline_cls` on a validation split carved from `data`'s train part.

    `data.carve_validation(cfg.validation_fraction)` is the split: fit on its early train
    events, scored on the last fraction of train, so the real test period is never read.
    `metric` is `<part>.<slice>.<name>`, default user-item recall at `cfg.tuning_k`; on the
    `all` slice `cfg.tune_cross_domain_weight` adds the cross-domain slice (`tuning_score`).
    Returns (best params, every trial with its score); ties keep the earlier grid point.
    """
    val = data.carve_validation(cfg.validation_fraction)
    metric = metric or f"user_item.all.recall@{cfg.tuning_k}"
    part, slice_name, name = metric.split(".", 2)
    keys = sorted(grid)
    trials: list[dict[str, Any]] = []
    best: dict[str, Any] = {}
    best_score = float("-inf")
    for values in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, values))
        model = baseline_cls(**params, **(fixed or {})).fit(val)
        metrics = evaluate(val, model, cfg, parts=(part,))[part]
        if slice_name == "all":
            score = tuning_score(metrics, name, cfg.tune_cross_domain_weight)
        else:
            score = metrics[slice_name][name]
        score = float("-inf") if score is None else float(score)
        trials.append({"params": params, metric: score})
        if score > best_score:
            best, best_score = params, score
    return best, trials
