"""Training an ensemble (`train.ensemble: K`): K models, one validation split, one read-out.

Member m is an ordinary model trained with seed `train.seed + m` into `OUT/members/<m>` (its
own checkpoints, so a killed run resumes member by member, and its own model artifact). All
members hold out the same edges (`train.split_seed`), so the popularity read-out is tuned once
on those edges for the combined vectors (`rankgraph.model.ensemble`) and no member has
trained on what the tuning scores. `OUT/manifest.json` names the members; `load_model`
returns an `EnsembleModel`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from rankgraph.config import RankGraphConfig
from rankgraph.graph.store import HeteroGraph
from rankgraph.model.ensemble import combine_member_vectors
from rankgraph.train.distributed import DistContext, barrier
from rankgraph.train.model_artifact import MEMBERS, save_ensemble_artifact, save_model_artifact
from rankgraph.train.trainer import StepCallback, Trainer, TrainResult, refit_on_every_edge


def member_config(cfg: RankGraphConfig, member: int) -> RankGraphConfig:
    """Member `member`'s config: its own seed, the ensemble's validation split, no ensemble."""
    t = cfg.train
    split_seed = t.seed if t.split_seed is None else t.split_seed
    return replace(cfg, train=replace(t, seed=t.seed + member, split_seed=split_seed, ensemble=1))


def member_dirs(out_dir: str | os.PathLike[str], k: int) -> list[Path]:
    return [Path(out_dir) / MEMBERS / str(m) for m in range(k)]


def train_ensemble(
    graph: HeteroGraph,
    cfg: RankGraphConfig,
    out_dir: str | os.PathLike[str],
    *,
    graph_path: str | os.PathLike[str] | None = None,
    resume: bool = False,
    device: str | None = None,
    dist_ctx: DistContext | None = None,
    on_step: StepCallback | None = None,
) -> TrainResult:
    """Train `cfg.train.ensemble` members and write the ensemble's model artifact to `out_dir`.

    Returns the first member's result, carrying the ensemble's read-out and refit steps;
    `on_step` counts steps across members (member m's step s is m * train.steps + s).
    """
    k = cfg.train.ensemble
    tune = cfg.evaluate.popularity_readout == "auto"
    results: list[TrainResult] = []
    finals = []
    held: list[dict[str, np.ndarray]] = []
    trainer = None
    members = [(member_config(cfg, m), d) for m, d in enumerate(member_dirs(out_dir, k))]
    for m, (mcfg, member_dir) in enumerate(members):
        step_cb = None if on_step is None else (lambda s, rec, m=m: on_step(m * cfg.train.steps + s, rec))
        trainer = Trainer(graph, mcfg, member_dir, device=device, dist_ctx=dist_ctx, on_step=step_cb)
        results.append(trainer.fit(resume=resume))
        finals.append(trainer.final_state())
        if tune and trainer.dist.is_main:
            held.append(trainer.heldout_vectors(finals[-1]))
    assert trainer is not None  # k >= 1 (TrainConfig checks)
    result = results[0]
    if held:
        # every member held out the same edges (member_config), so the last trainer's split is theirs
        choice = trainer.tune_readout(vectors=combine_member_vectors(held))
        result.popularity_readout = None if choice is None else choice.to_dict()
    del held
    refit = cfg.train.refit_steps > 0 and trainer.sampler.val.rel.size > 0
    for m, (mcfg, member_dir) in enumerate(members):
        final = finals[m]
        if refit:
            final = refit_on_every_edge(graph, mcfg, member_dir, final, resume=resume, device=device, dist_ctx=dist_ctx)
        if trainer.dist.is_main:
            save_model_artifact(member_dir, final, mcfg, trainer.schema, graph_path, results[m].summary())
    if refit:
        result.refit_steps = cfg.train.refit_steps
    if trainer.dist.is_main:
        summary = {**result.summary(), "ensemble": k, "members": [r.summary() for r in results]}
        save_ensemble_artifact(out_dir, cfg, trainer.schema, graph_path, summary, k)
    barrier(trainer.dist)
    return result
