"""The contrastive trainer: positives -> embeddings -> masked candidates -> loss -> AdamW.

One step:
  1. draw a global batch of positive edges and refresh the negative pool (one generator);
  2. keep this rank's shard of the batch (all of it when not distributed);
  3. embed: full-graph mode runs `forward_full` over the whole training graph; mini-batch
     mode samples blocks around the seeds (batch endpoints + fresh pool ids) and runs
     `forward_sampled`;
  4. build candidate sets (in-batch, pool, semantic cross-head; false negatives masked) for
     the anchor->target direction, and the target->anchor direction when `train.symmetric`;
  5. L = w_nce * InfoNCE + w_triplet * triplet, averaged over directions and anchors;
  6. backward, gradient all-reduce (distributed), clipping, AdamW step, LR schedule step.

Every `eval_every` steps: recall@K and MRR of each held-out edge's true target among
`val_candidates` fixed random nodes of its type (cosine of the served embeddings), with
early stopping after `patience` evaluations without a better MRR; the best weights are kept.
Every `checkpoint_every` steps the whole state is checkpointed atomically for `--resume`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from rankgraph.config import RankGraphConfig
from rankgraph.errors import ConfigError
from rankgraph.graph.store import HeteroGraph
from rankgraph.train import checkpoint as ckpt
from rankgraph.train.distributed import DistContext, all_reduce_mean, average_gradients, barrier, broadcast_parameters
from rankgraph.train.losses import combined_loss
from rankgraph.train.negatives import NegativePool, NeighbourIndex, PoolView, build_candidates
from rankgraph.train.positives import PositiveBatch, PositiveSampler, holdout_graph
from rankgraph.train.schedule import make_scheduler

if TYPE_CHECKING:
    from rankgraph.evaluate.readout import ReadoutChoice

StepCallback = Callable[[int, dict[str, float]], None]
# Users scored when tuning the popularity read-out on held-out edges (bounds its cost on big graphs).
READOUT_MAX_USERS = 2_000


@dataclass
class TrainResult:
    """What a finished (or stopped) run reports; `summary` goes into the model manifest."""

    step: int
    best_step: int | None
    best_metric: float | None
    initial_metric: float | None
    stopped_early: bool
    last_loss: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    popularity_readout: dict[str, Any] | None = None  # betas tuned on held-out edges (Trainer.tune_readout)
    refit_steps: int = 0  # steps trained on every edge after validation (refit_on_every_edge)

    def summary(self) -> dict[str, Any]:
        return {
            "steps": self.step,
            "best_step": self.best_step,
            "best_val_mrr": self.best_metric,
            "initial_val_mrr": self.initial_metric,
            "stopped_early": self.stopped_early,
            "last_loss": self.last_loss,
            "popularity_readout": self.popularity_readout,
            "refit_steps": self.refit_steps,
        }


class Trainer:
    """Trains a `RankGraphModel` on one graph; see the module docstring for one step.

    `out_dir` receives `checkpoints/last.pt` and `metrics.jsonl` while training (rank 0).
    """

    def __init__(
        self,
        graph: HeteroGraph,
        cfg: RankGraphConfig,
        out_dir: str | os.PathLike[str],
        *,
        device: str | None = None,
        dist_ctx: DistContext | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        from rankgraph.model import GraphSchema, RankGraphModel

        self.cfg = cfg
        self.tcfg = cfg.train
        self.ncfg = cfg.train.negatives
        self.out_dir = Path(out_dir)
        self.dist = dist_ctx or DistContext()
        self.device = torch.device(device or cfg.train.device)
        self.on_step = on_step
        if not (self.ncfg.in_batch or self.ncfg.pool or (self.ncfg.semantic and cfg.model.num_heads > 1)):
            raise ConfigError(
                "train.negatives: no negative sampler is on (in_batch, pool, and semantic with model.num_heads > 1)"
            )
        if self.tcfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.full_graph = graph
        self.sampler = PositiveSampler(graph, self.tcfg)
        self.graph = holdout_graph(graph, self.sampler)
        self.schema = GraphSchema.from_graph(graph)
        self.type_names = sorted(graph.num_nodes)
        code = {t: i for i, t in enumerate(self.type_names)}
        self.rel_src_code = torch.tensor([code[t] for t in self.sampler.src_types])
        self.rel_dst_code = torch.tensor([code[t] for t in self.sampler.dst_types])

        torch.manual_seed(self.tcfg.seed)
        self.model = RankGraphModel(cfg.model, self.schema).to(self.device)
        broadcast_parameters(self.model, self.dist)
        # Dropout streams differ per rank (as in any data-parallel job) but are seeded.
        torch.manual_seed(self.tcfg.seed + 1 + self.dist.rank)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=self.tcfg.lr, weight_decay=self.tcfg.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, self.tcfg.warmup_steps, self.tcfg.steps)
        self.generator = torch.Generator().manual_seed(self.tcfg.seed)

        pool_types = set(self.sampler.dst_types) | (set(self.sampler.src_types) if self.tcfg.symmetric else set())
        degree = {t: np.zeros(graph.num_nodes[t]) for t in pool_types}
        for rel in self.graph.relations.values():
            if rel.dst_type in degree:
                degree[rel.dst_type] += rel.in_degree()
        self.pool = NegativePool({t: graph.num_nodes[t] for t in pool_types}, self.ncfg, degree)
        self.neighbours = NeighbourIndex(self.graph, self.device) if self.ncfg.mask_false_negatives else None
        self._log_q = self._target_log_q() if self.ncfg.logq_correction else None
        self.families = self._candidate_families(graph, cfg.data.user_type) if self.ncfg.mix_item_types else None

        self.minibatch = cfg.model.mode == "minibatch"
        if self.minibatch:
            from rankgraph.graph.sample import NeighborSampler

            self.block_sampler = NeighborSampler(
                self.graph, list(cfg.model.fanouts), weighted=cfg.model.sampling == "weighted", device=self.device
            )
            # The block sampler draws on the graph's device, so it gets its own generator there.
            self.block_generator = torch.Generator(self.device).manual_seed(self.tcfg.seed + 2)
            self.gt = None
        else:
            from rankgraph.model import GraphTensors

            self.gt = GraphTensors.from_graph(self.graph, self.device)
        self._val = self._validation_set()

        self.step = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.best_state: dict[str, Tensor] | None = None
        self.bad_evals = 0
        self.initial_metric: float | None = None
        self.stopped_early = False
        self.last_loss: float | None = None

    # ------------------------------------------------------------------ set-up helpers
    @staticmethod
    def _candidate_families(graph: HeteroGraph, user_type: str) -> dict[str, list[str]]:
        """Every engaged item type is a candidate for a target of any of them (see build_candidates)."""
        items = sorted(
            {t for r in graph.relations.values() if r.kind == "engagement" for t in (r.src_type, r.dst_type)} - {user_type}
        )
        return {t: items for t in items}

    def _target_log_q(self) -> dict[str, dict[str, Tensor]]:
        """log(expected in-batch count) of each node as a target, per direction and type."""
        b = max(1, self.tcfg.batch_size // self.dist.world)
        out: dict[str, dict[str, Tensor]] = {"forward": {}, "backward": {}}
        for direction, anchor_side in (("forward", False), ("backward", True)):
            types = self.sampler.src_types if anchor_side else self.sampler.dst_types
            for t in set(types):
                q = self.sampler.target_frequency(t, self.full_graph.num_nodes[t], anchor_side=anchor_side)
                out[direction][t] = torch.from_numpy(np.log(np.maximum(q * b, 1e-12))).float().to(self.device)
        return out

    def _validation_set(self) -> dict[str, Any] | None:
        """Fixed held-out edges and candidates (same for every evaluation and every rank)."""
        val = self.sampler.val
        if val.rel.size == 0:
            return None
        rng = np.random.default_rng(self.tcfg.seed + 7919)
        take = rng.permutation(val.rel.size)[: self.tcfg.val_max_edges]
        take.sort()
        rel, src, dst = val.rel[take], val.src[take], val.dst[take]
        c = self.tcfg.val_candidates
        cands = np.empty((take.size, c + 1), dtype=np.int64)
        cands[:, 0] = dst
        for i, t in enumerate(self.sampler.dst_types):
            sel = rel == i
            cands[sel, 1:] = rng.integers(0, self.full_graph.num_nodes[t], size=(int(sel.sum()), c))
        return {"rel": rel, "src": src, "cands": cands}

    # ------------------------------------------------------------------ embeddings
    def _embed_batch(
        self, batch: PositiveBatch, fresh: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, dict[str, PoolView]]:
        """Anchor and target embeddings [b, H, D] of the batch, and this step's pool views."""
        src_code = self.rel_src_code[batch.rel]
        dst_code = self.rel_dst_code[batch.rel]
        if not self.minibatch:
            emb = self.model.forward_full(self.gt)
            anchor = self._gather(emb, src_code, batch.src)
            target = self._gather(emb, dst_code, batch.dst)
            pools = {}
            if self.ncfg.pool:
                for t in self.pool.types:
                    ids = self.pool.ids[t].to(self.device)
                    pools[t] = PoolView(ids, emb[t][ids.clamp(min=0)])
            return anchor, target, pools
        # Mini-batch: seeds = batch endpoints + fresh pool ids, deduplicated per type.
        want: dict[str, list[Tensor]] = {}
        for code, ids in ((src_code, batch.src), (dst_code, batch.dst)):
            for c in torch.unique(code).tolist():
                want.setdefault(self.type_names[c], []).append(ids[code == c])
        if self.ncfg.pool:
            for t, ids in fresh.items():
                want.setdefault(t, []).append(ids)
        seeds, inverse = {}, {}
        for t, parts in want.items():
            cat = torch.cat(parts)
            seeds[t], inverse[t] = torch.unique(cat, return_inverse=True)
        sub = self.block_sampler.sample(seeds, self.block_generator)
        out = self.model.forward_sampled(sub)
        # Position of every requested id in its type's seed list.
        offs = {t: 0 for t in want}
        seed_pos: dict[str, list[Tensor]] = {t: [] for t in want}
        for t, parts in want.items():
            for p in parts:
                seed_pos[t].append(inverse[t][offs[t] : offs[t] + p.shape[0]])
                offs[t] += p.shape[0]
        cursor = {t: 0 for t in want}
        H, D = next(iter(out.values())).shape[1:]
        anchor_parts, target_parts = [], []
        for code, ids, dest in ((src_code, batch.src, anchor_parts), (dst_code, batch.dst, target_parts)):
            for c in torch.unique(code).tolist():
                t = self.type_names[c]
                rows = torch.nonzero(code == c).flatten()
                pos = seed_pos[t][cursor[t]]
                cursor[t] += 1
                dest.append((rows, out[t][pos.to(self.device)]))
        anchor = _scatter_rows(len(batch), anchor_parts, H, D, self.device)
        target = _scatter_rows(len(batch), target_parts, H, D, self.device)
        pools = {}
        if self.ncfg.pool:
            for t in self.pool.types:
                fresh_emb = out[t][seed_pos[t][cursor[t]].to(self.device)]
                self.pool.store(t, fresh_emb)  # detached copy for the following steps
                slots = self.pool.fresh_slots(t).to(self.device)
                stored = self.pool.emb[t].clone()
                stored[slots] = fresh_emb  # fresh rows keep their gradient
                pools[t] = PoolView(self.pool.ids[t].to(self.device), stored)
        return anchor, target, pools

    def _gather(self, emb: dict[str, Tensor], code: Tensor, ids: Tensor) -> Tensor:
        """Rows `ids` of the per-type embeddings, the type of each row given by `code`."""
        parts = []
        for c in torch.unique(code).tolist():
            rows = torch.nonzero(code == c).flatten()
            parts.append((rows, emb[self.type_names[c]][ids[rows].to(self.device)]))
        H, D = next(iter(emb.values())).shape[1:]
        return _scatter_rows(code.shape[0], parts, H, D, self.device)

    # ------------------------------------------------------------------ one step
    def _loss(self, batch: PositiveBatch, fresh: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        anchor, target, pools = self._embed_batch(batch, fresh)
        src_code = self.rel_src_code[batch.rel]
        dst_code = self.rel_dst_code[batch.rel]
        directions = [("forward", src_code, batch.src, anchor, dst_code, batch.dst, target)]
        if self.tcfg.symmetric:
            directions.append(("backward", dst_code, batch.dst, target, src_code, batch.src, anchor))
        total = anchor.new_zeros(())
        parts: dict[str, float] = {}
        n = len(batch)
        for name, a_code, a_ids, a_emb, t_code, t_ids, t_emb in directions:
            pool_lq = None
            if self._log_q is not None and self.ncfg.pool:
                pool_lq = {t: self.pool.log_q(t, pv.ids) for t, pv in pools.items()}
            groups = build_candidates(
                self.type_names,
                a_code,
                a_ids.to(self.device),
                a_emb,
                t_code,
                t_ids.to(self.device),
                t_emb,
                self.ncfg,
                pools=pools,
                neighbours=self.neighbours,
                log_q_target=self._log_q[name] if self._log_q is not None else None,
                pool_log_q=pool_lq,
                families=self.families,
            )
            for g in groups:
                loss, lp = combined_loss(
                    g.pos,
                    g.neg,
                    g.mask,
                    temperature=self.tcfg.temperature,
                    margin=self.tcfg.margin,
                    w_nce=self.tcfg.w_nce,
                    w_triplet=self.tcfg.w_triplet,
                    triplet_mode=self.tcfg.triplet_negative,
                    generator=self.generator,
                    log_q_pos=g.log_q_pos,
                    log_q_neg=g.log_q_neg,
                )
                share = g.rows.shape[0] / n / len(directions)
                total = total + share * loss
                for k, v in lp.items():
                    parts[k] = parts.get(k, 0.0) + share * v
                parts["candidates"] = parts.get("candidates", 0.0) + share * float(g.mask.sum(dim=1).float().mean())
        return total, parts

    def train_step(self) -> dict[str, float]:
        """One optimisation step; returns its metrics (loss parts, lr, throughput)."""
        t0 = time.perf_counter()
        self.model.train()
        batch = self.sampler.sample(self.tcfg.batch_size, self.generator)
        fresh = self.pool.refresh(self.generator) if self.ncfg.pool else {}
        local = batch.shard(self.dist.rank, self.dist.world)
        loss, parts = self._loss(local, fresh)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.params, self.dist)
        grad_norm = float("nan")
        if self.tcfg.grad_clip and self.tcfg.grad_clip > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.tcfg.grad_clip))
        self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.step += 1
        dt = time.perf_counter() - t0
        loss_value = all_reduce_mean(float(loss.detach()), self.dist, self.device)
        self.last_loss = loss_value
        return {
            "step": self.step,
            "loss": loss_value,
            **parts,
            "lr": lr,
            "grad_norm": grad_norm,
            "pairs_per_s": self.tcfg.batch_size / dt if dt > 0 else float("inf"),
        }

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def embed_all(self) -> dict[str, Tensor]:
        """Served embeddings [n_t, E] of every node (eval mode, training graph)."""
        self.model.eval()
        if self.gt is not None:
            h = self.model.forward_full(self.gt)
            return {t: self.model.served(v) for t, v in h.items()}
        from rankgraph.model.inference import layerwise_embed

        out = layerwise_embed(self.model, self.graph, self.device, self.cfg.model.inference_chunk)
        return {t: torch.as_tensor(v, device=self.device) for t, v in out.items()}

    def heldout_vectors(self, state: dict[str, Tensor] | None = None) -> dict[str, np.ndarray]:
        """Served vectors of `state` (default: the shipped weights) on the training graph,
        which lacks the held-out edges, as the read-out tuning must see them."""
        saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(state if state is not None else self.final_state())
        try:
            return {t: v.float().cpu().numpy() for t, v in self.embed_all().items()}
        finally:
            self.model.load_state_dict(saved)

    def tune_readout(
        self, state: dict[str, Tensor] | None = None, vectors: dict[str, np.ndarray] | None = None
    ) -> ReadoutChoice | None:
        """Popularity read-out betas and window for `state` (default: the shipped weights), or
        for held-out `vectors` given instead (an ensemble's), chosen on the held-out
        user->item edges with the evaluation's own metric code; None without any.
        log q counts the held-out graph's edges only, as the model saw them."""
        from rankgraph.embed.export import item_log_popularity
        from rankgraph.evaluate.readout import heldout_eval_data, tune_readout

        val = self.sampler.val
        held = [(name, val.src[val.rel == i], val.dst[val.rel == i]) for i, name in enumerate(self.sampler.names)]
        user_type = self.cfg.data.user_type
        data = heldout_eval_data(self.graph, held, user_type)
        log_q = {f: item_log_popularity(self.graph, user_type, f) for f in self.cfg.evaluate.popularity_recent_grid}
        if data is None or any(t not in q for q in log_q.values() for t in data.item_types):
            return None
        emb = vectors if vectors is not None else self.heldout_vectors(state)
        items = np.concatenate([emb[t] for t in data.item_types])
        ecfg = replace(self.cfg.evaluate, max_users=min(self.cfg.evaluate.max_users or READOUT_MAX_USERS, READOUT_MAX_USERS))
        return tune_readout(
            emb[user_type],
            items,
            {f: np.concatenate([q[t] for t in data.item_types]) for f, q in log_q.items()},
            data,
            ecfg,
            self.tcfg.temperature,
            self.cfg.evaluate.popularity_readout_grid,
        )

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Recall@K and MRR of the true target among the fixed validation candidates."""
        if self._val is None:
            return {}
        emb = self.embed_all()
        v = self._val
        ranks = np.empty(v["rel"].shape[0], dtype=np.int64)
        for i, (s_t, d_t) in enumerate(zip(self.sampler.src_types, self.sampler.dst_types)):
            sel = np.nonzero(v["rel"] == i)[0]
            if sel.size == 0:
                continue
            a = emb[s_t][torch.from_numpy(v["src"][sel]).to(self.device)]  # [m, E]
            c = emb[d_t][torch.from_numpy(v["cands"][sel]).to(self.device)]  # [m, C+1, E]
            scores = torch.einsum("me,mce->mc", a, c)
            ranks[sel] = (1 + (scores[:, 1:] > scores[:, :1]).sum(dim=1)).cpu().numpy()
        k = self.tcfg.val_k
        return {"val_mrr": float(np.mean(1.0 / ranks)), f"val_recall@{k}": float(np.mean(ranks <= k))}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "pool": self.pool.state_dict(),
            "rng": ckpt.capture_rng(self.generator),
            "early_stopping": {
                "best_metric": self.best_metric,
                "best_step": self.best_step,
                "bad_evals": self.bad_evals,
                "initial_metric": self.initial_metric,
                "stopped_early": self.stopped_early,
                "last_loss": self.last_loss,
            },
            "best_model": self.best_state,
            "block_generator": self.block_generator.get_state() if self.minibatch else None,
            "world": self.dist.world,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.pool.load_state_dict(state["pool"], self.device)
        es = state["early_stopping"]
        self.best_metric, self.best_step = es["best_metric"], es["best_step"]
        self.bad_evals, self.initial_metric = int(es["bad_evals"]), es["initial_metric"]
        self.stopped_early, self.last_loss = bool(es["stopped_early"]), es["last_loss"]
        self.best_state = state.get("best_model")
        ckpt.restore_rng(state["rng"], self.generator)
        if self.minibatch and state.get("block_generator") is not None:
            self.block_generator.set_state(state["block_generator"])
        if self.dist.rank:
            # Dropout stream of this rank, as `__init__` would have derived it.
            torch.manual_seed(self.tcfg.seed + 1 + self.dist.rank + 7 * self.step)

    def save_checkpoint(self) -> None:
        if self.dist.is_main:
            ckpt.save_checkpoint(self.out_dir / "checkpoints", self.state_dict())

    def resume(self) -> bool:
        """Load `out_dir/checkpoints/last.pt` if present; truncate the log to its step."""
        path = self.out_dir / "checkpoints" / ckpt.CHECKPOINT_NAME
        if not path.is_file():
            return False
        self.load_state_dict(ckpt.load_checkpoint(path.parent, map_location="cpu"))
        log = self.out_dir / "metrics.jsonl"
        if self.dist.is_main and log.is_file():
            kept = [ln for ln in log.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= self.step]
            log.write_text("".join(ln + "\n" for ln in kept))
        return True

    # ------------------------------------------------------------------ loop
    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.out_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(clean) + "\n")
        writer = self._tensorboard()
        if writer is not None:
            for k, v in clean.items():
                if isinstance(v, (int, float)) and k != "step":
                    writer.add_scalar(f"{record.get('event', 'train')}/{k}", v, int(record.get("step", self.step)))
            writer.flush()

    def _tensorboard(self) -> Any:
        """A SummaryWriter on OUT/tensorboard when enabled and the package is installed."""
        from rankgraph.capabilities import WITH_TENSORBOARD

        if not (self.tcfg.tensorboard and WITH_TENSORBOARD):
            return None
        if getattr(self, "_tb", None) is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out_dir / "tensorboard"))
        return self._tb

    def _after_eval(self, metrics: dict[str, float]) -> bool:
        """Early-stopping bookkeeping; True when training should stop."""
        mrr = metrics.get("val_mrr")
        if mrr is None:
            return False
        if self.best_metric is None or mrr > self.best_metric:
            self.best_metric, self.best_step, self.bad_evals = mrr, self.step, 0
            self.best_state = {k: v.detach().clone().cpu() for k, v in self.model.state_dict().items()}
            return False
        self.bad_evals += 1
        return self.bad_evals >= self.tcfg.patience

    def fit(self, *, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train up to `train.steps` steps (or early stop). `stop_after` ends the run after
        that step without finishing, as a killed process would (for tests and chunked runs)."""
        history: list[dict[str, Any]] = []
        if resume:
            self.resume()
        if self.step == 0 and self.initial_metric is None and self._val is not None:
            m0 = self.evaluate()
            self.initial_metric = m0.get("val_mrr")
            self._log({"step": 0, "event": "eval", **m0})
        while self.step < self.tcfg.steps and not self.stopped_early:
            rec = self.train_step()
            if self.step % self.tcfg.log_every == 0 or self.step == self.tcfg.steps:
                self._log({"event": "train", **rec})
            history.append(rec)
            if self.step % self.tcfg.eval_every == 0 or self.step == self.tcfg.steps:
                m = self.evaluate()
                if m:
                    self.stopped_early = self._after_eval(m)
                    self._log({"step": self.step, "event": "eval", **m, "best_val_mrr": self.best_metric})
                    rec.update(m)
            if self.on_step is not None and self.dist.is_main:
                self.on_step(self.step, rec)
            if self.step % self.tcfg.checkpoint_every == 0 or self.step == self.tcfg.steps or self.stopped_early:
                self.save_checkpoint()
            if stop_after is not None and self.step >= stop_after:
                break
        return TrainResult(
            step=self.step,
            best_step=self.best_step,
            best_metric=self.best_metric,
            initial_metric=self.initial_metric,
            stopped_early=self.stopped_early,
            last_loss=self.last_loss,
            history=history,
        )

    def final_state(self) -> dict[str, Tensor]:
        """Weights to ship: the best validated ones, else the last."""
        state = self.best_state if self.best_state is not None else self.model.state_dict()
        return {k: v.detach().cpu().clone().contiguous() for k, v in state.items()}


def _scatter_rows(n: int, parts: list[tuple[Tensor, Tensor]], H: int, D: int, device: torch.device) -> Tensor:
    """Assemble [n, H, D] from (rows, values) pieces (differentiable, no in-place on leaves)."""
    if len(parts) == 1 and parts[0][0].shape[0] == n:
        rows, vals = parts[0]
        order = torch.argsort(rows.to(device))
        return vals[order]
    rows = torch.cat([r for r, _ in parts]).to(device)
    vals = torch.cat([v for _, v in parts])
    out = vals.new_zeros((n, H, D))
    return out.index_copy(0, rows, vals)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a training work file or folder into the final artifact (if it exists)."""
    if src.is_dir():
        shutil.copytree(src, dst)
    elif src.is_file():
        shutil.copy2(src, dst)



def train_graph(
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
    """Train on `graph` and write the model artifact to `out_dir` (rank 0); the CLI's core.
    With `train.ensemble` > 1 this trains the ensemble (`rankgraph.train.ensemble`)."""
    from rankgraph.train.model_artifact import save_model_artifact

    if cfg.train.ensemble > 1:
        from rankgraph.train.ensemble import train_ensemble

        return train_ensemble(
            graph, cfg, out_dir, graph_path=graph_path, resume=resume, device=device, dist_ctx=dist_ctx, on_step=on_step
        )

    trainer = Trainer(graph, cfg, out_dir, device=device, dist_ctx=dist_ctx, on_step=on_step)
    result = trainer.fit(resume=resume)
    if trainer.dist.is_main and cfg.evaluate.popularity_readout == "auto":
        choice = trainer.tune_readout()
        result.popularity_readout = None if choice is None else choice.to_dict()
        if choice is not None:
            trainer._log(
                {"step": trainer.step, "event": "readout", "users": choice.users, "items": choice.items,
                 "recent_fraction": choice.recent_fraction}
            )  # fmt: skip
    final = trainer.final_state()
    if cfg.train.refit_steps > 0 and trainer.sampler.val.rel.size > 0:
        final = refit_on_every_edge(graph, cfg, out_dir, final, resume=resume, device=device, dist_ctx=dist_ctx)
        result.refit_steps = cfg.train.refit_steps
    if trainer.dist.is_main:
        save_model_artifact(out_dir, final, cfg, trainer.schema, graph_path, result.summary())
    # every rank returns once the artifact is written, and no rank tears its process group
    # down while rank 0 is still tuning (a gloo rank that did aborted now and then)
    barrier(trainer.dist)
    return result


def refit_on_every_edge(
    graph: HeteroGraph,
    cfg: RankGraphConfig,
    out_dir: str | os.PathLike[str],
    state: dict[str, Tensor],
    *,
    resume: bool = False,
    device: str | None = None,
    dist_ctx: DistContext | None = None,
) -> dict[str, Tensor]:
    """`state` trained `train.refit_steps` more steps on every edge, the held-out ones back in
    both positives and message passing, at `train.refit_lr` without warm-up.

    Validation picked the step and the read-out; the edges it held out (under a temporal
    split, the newest) are then too valuable to leave out of the shipped model. Checkpoints go
    to `out_dir/refit`, so a killed refit resumes there.
    """
    tcfg = replace(cfg.train, val_fraction=0.0, steps=cfg.train.refit_steps, lr=cfg.train.refit_lr, warmup_steps=0, refit_steps=0)
    refit = Trainer(graph, replace(cfg, train=tcfg), Path(out_dir) / "refit", device=device, dist_ctx=dist_ctx)
    refit.model.load_state_dict(state)
    refit.fit(resume=resume)
    return refit.final_state()
