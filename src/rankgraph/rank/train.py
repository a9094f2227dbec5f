"""Fit, score and compare the sequence ranker's fusion variants over seeds.

`fit` trains one (fusion, seed) on the validation-window examples with
BCE(click) + w x BCE(conversion) (the conversion term masked where the label is undefined);
`evaluate` scores the test examples per task (click on every candidate, conversion on the
candidates where it is defined), overall, per candidate domain, and on cold-domain users
(no history in the candidate's domain) and the rest; `sweep` runs every variant x seed and
`summarize` reports mean and spread, and each variant's paired (same seed) change against
`none`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rankgraph.config.rank import RankConfig
from rankgraph.rank.examples import RankData, RankExamples, RankVocab
from rankgraph.rank.fusion import GraphInputs
from rankgraph.rank.metrics import mean_std, sliced_report
from rankgraph.rank.model import Batch, SequenceRanker

HIST = ("hist_item", "hist_event", "hist_domain", "hist_gap")


@dataclass
class ExampleTensors:
    """RankExamples as torch tensors, gathered into batches by example index."""

    hist: dict[str, torch.Tensor]
    user: torch.Tensor
    row: torch.Tensor
    cand_item: torch.Tensor
    cand_domain: torch.Tensor
    click: torch.Tensor
    conv: torch.Tensor
    conv_mask: torch.Tensor

    @classmethod
    def from_examples(cls, ex: RankExamples, device: torch.device | str = "cpu") -> ExampleTensors:
        t = lambda a, dt=torch.long: torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=device)  # noqa: E731
        return cls(
            hist={k: t(getattr(ex, k)) for k in HIST}, user=t(ex.user), row=t(ex.row),
            cand_item=t(ex.cand_item), cand_domain=t(ex.cand_domain), click=t(ex.click, torch.float32),
            conv=t(ex.conv, torch.float32), conv_mask=t(ex.conv_mask, torch.bool),
        )

    def __len__(self) -> int:
        return int(self.row.shape[0])

    def batch(self, idx: torch.Tensor) -> Batch:
        rows = self.row[idx]
        out = {k: v[rows] for k, v in self.hist.items()}
        out.update(user=self.user[rows], cand_item=self.cand_item[idx], cand_domain=self.cand_domain[idx])
        return out


def make_model(cfg: RankConfig, vocab: RankVocab, fusion: str, graph: GraphInputs | None, seed: int) -> SequenceRanker:
    """A ranker for `fusion`; `none` is built without graph inputs."""
    from dataclasses import replace

    mcfg = replace(cfg.model, fusion=fusion)
    graph_dim = graph.dim if graph is not None else 1
    return SequenceRanker(mcfg, vocab, cfg.examples.max_history, cfg.examples.gap_buckets, graph_dim, seed)


def loss_fn(click_logit: torch.Tensor, conv_logit: torch.Tensor, click: torch.Tensor, conv: torch.Tensor,
            conv_mask: torch.Tensor, conversion_weight: float) -> torch.Tensor:
    """BCE(click) + w x mean BCE(conversion) over the examples where the conversion label is defined."""
    loss = F.binary_cross_entropy_with_logits(click_logit, click)
    if conv_mask.any():
        loss = loss + conversion_weight * F.binary_cross_entropy_with_logits(conv_logit[conv_mask], conv[conv_mask])
    return loss


def fit(
    data: RankData,
    cfg: RankConfig,
    fusion: str,
    seed: int,
    graph: GraphInputs | None = None,
    *,
    device: str = "cpu",
    on_epoch: Callable[[int, float], None] | None = None,
) -> SequenceRanker:
    """Train one ranker on `data.train`; `graph` is ignored (not passed) for `none`."""
    use_graph = None if fusion == "none" else graph
    if fusion != "none" and graph is None:
        raise ValueError(f"fusion {fusion!r} needs graph inputs")
    model = make_model(cfg, data.vocab, fusion, use_graph, seed).to(device)
    g_dev = use_graph.to(device) if use_graph is not None else None
    tr = ExampleTensors.from_examples(data.train, device)
    tc = cfg.train
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = len(tr)
    steps = tc.epochs * ((n + tc.batch_size - 1) // tc.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=max(steps, 1), pct_start=0.1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout draws
        for epoch in range(tc.epochs):
            model.train()
            perm = torch.randperm(n, generator=gen).to(device)
            total, count = 0.0, 0
            for start in range(0, n, tc.batch_size):
                idx = perm[start : start + tc.batch_size]
                cl, cv = model(tr.batch(idx), g_dev)
                loss = loss_fn(cl, cv, tr.click[idx], tr.conv[idx], tr.conv_mask[idx], tc.conversion_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if tc.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                opt.step()
                sched.step()
                total += float(loss.detach()) * idx.numel()
                count += idx.numel()
            if on_epoch is not None:
                on_epoch(epoch, total / max(count, 1))
    model.eval()
    return model


@torch.no_grad()
def predict(model: SequenceRanker, ex: RankExamples, graph: GraphInputs | None = None, *,
            batch_size: int = 2048, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(P(click) [N], P(conversion) [N]) for every example of `ex`."""
    model.eval()
    te = ExampleTensors.from_examples(ex, device)
    g_dev = graph.to(device) if graph is not None and model.cfg.fusion != "none" else None
    pc, pv = [], []
    for start in range(0, len(te), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(te)), device=device)
        cl, cv = model(te.batch(idx), g_dev)
        pc.append(torch.sigmoid(cl).cpu())
        pv.append(torch.sigmoid(cv).cpu())
    return torch.cat(pc).numpy().astype(np.float64), torch.cat(pv).numpy().astype(np.float64)


def evaluate(ex: RankExamples, vocab: RankVocab, p_click: np.ndarray, p_conv: np.ndarray) -> dict[str, Any]:
    """{task: {slice: {auc, logloss, ne, n, positives}}} with slices all, cold, warm, domain:<name>."""
    slices = {"cold": ex.cold, "warm": ~ex.cold}
    for d in np.unique(ex.cand_domain):
        slices[f"domain:{vocab.domains[int(d) - 1]}"] = ex.cand_domain == d
    out = {"click": sliced_report(ex.click, p_click, slices)}
    m = ex.conv_mask
    if m.any():
        out["conversion"] = sliced_report(ex.conv[m], p_conv[m], {k: v[m] for k, v in slices.items()})
    return out


def sweep(
    data: RankData,
    cfg: RankConfig,
    graph: GraphInputs | None,
    *,
    device: str = "cpu",
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every (variant, seed) of `cfg`: fit on train, evaluate on test. One dict per run."""
    runs = []
    for seed in cfg.seeds:
        for variant in cfg.variants:
            started = time.perf_counter()
            model = fit(data, cfg, variant, seed, graph, device=device)
            p_click, p_conv = predict(model, data.test, graph, device=device)
            run = {"variant": variant, "seed": seed, "seconds": round(time.perf_counter() - started, 2),
                   "metrics": evaluate(data.test, data.vocab, p_click, p_conv)}
            runs.append(run)
            if on_run is not None:
                on_run(run)
    return runs


def _num(x: float | None) -> float:
    """A metric value, with None (NaN after a JSON round trip) back to NaN."""
    return float("nan") if x is None else float(x)


def summarize(runs: list[dict[str, Any]], baseline: str = "none") -> dict[str, Any]:
    """Per variant, task, slice and metric: mean/std over seeds, and the paired change vs `baseline`.

    `delta` = variant - baseline at the same seed (negative NE/logloss deltas are gains);
    `beats_spread` for NE: the mean delta is negative and larger in size than its std and
    than the baseline's own seed std.
    """
    by = {(r["variant"], r["seed"]): r["metrics"] for r in runs}
    variants = list(dict.fromkeys(r["variant"] for r in runs))
    seeds = sorted({r["seed"] for r in runs})
    out: dict[str, Any] = {}
    for v in variants:
        out[v] = {}
        tasks = by[(v, seeds[0])].keys() if (v, seeds[0]) in by else []
        for task in tasks:
            out[v][task] = {}
            for sl in by[(v, seeds[0])][task]:
                entry: dict[str, Any] = {}
                for metric in ("auc", "logloss", "ne"):
                    vals = [_num(by[(v, s)][task][sl][metric]) for s in seeds if (v, s) in by]
                    entry[metric] = mean_std(vals)
                    if v != baseline and all((baseline, s) in by for s in seeds):
                        base = [_num(by[(baseline, s)][task][sl][metric]) for s in seeds]
                        entry[f"delta_{metric}"] = mean_std([a - b for a, b in zip(vals, base)])
                entry["n"] = by[(v, seeds[0])][task][sl]["n"]
                if "delta_ne" in entry:
                    d, base_std = entry["delta_ne"], out.get(baseline, {}).get(task, {}).get(sl, {}).get("ne", {}).get("std", 0.0)
                    entry["beats_spread"] = bool(d["mean"] < 0 and -d["mean"] > max(d["std"], base_std or 0.0))
                out[v][task][sl] = entry
    return out


def markdown_table(summary: dict[str, Any], slices: list[str] | None = None) -> str:
    """A Markdown table: variant x task x slice with NE and AUC (mean ± std) and ΔNE vs none."""
    lines = ["| variant | task | slice | n | NE | AUC | ΔNE vs none | beats spread |", "|---|---|---|---|---|---|---|---|"]
    for v, tasks in summary.items():
        for task, sls in tasks.items():
            for sl, e in sls.items():
                if slices is not None and sl not in slices:
                    continue
                ne, au = e["ne"], e["auc"]
                d = e.get("delta_ne")
                dtxt = f"{d['mean']:+.4f} ± {d['std']:.4f}" if d else "-"
                lines.append(
                    f"| {v} | {task} | {sl} | {e['n']} | {ne['mean']:.4f} ± {ne['std']:.4f} | "
                    f"{au['mean']:.4f} ± {au['std']:.4f} | {dtxt} | {e.get('beats_spread', '-')} |"
                )
    return "\n".join(lines)
