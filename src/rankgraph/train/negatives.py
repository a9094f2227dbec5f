"""Negative samplers, mixed into one masked candidate set per anchor.

Three samplers, each switched by `train.negatives`:

* **in-batch** (`in_batch`): the targets of the other positives in the batch that have the
  anchor's target type. Popular nodes appear more often, hence the optional logQ correction.
* **out-of-batch pool** (`pool`): per node type, a ring buffer of `pool_size` node ids;
  each step the oldest `pool_samples` entries are replaced by fresh ids drawn uniformly
  over all nodes of the type (or proportional to degree**power, `pool_sampling="degree"`),
  so the pool follows the global node distribution rather than the engagement one.
  *What is stored:* ids always. In full-graph mode the whole pool is **re-encoded** every
  step (its rows are read from the fresh full forward pass, with gradient). In mini-batch
  mode only the fresh ids are encoded (they join the seeds); the older entries are the
  **stored, detached embeddings** from the step that encoded them (a MoCo-style queue).
* **semantic cross-head** (`semantic`): for a pair (u, v), v's embedding from every other
  head is an extra negative for u's head h: head h must not be satisfied by matching a
  different head's view of v, which pushes heads apart (multi-facet embeddings).

False-negative masking (`mask_false_negatives`): an in-batch or pool candidate that is a
known neighbour of the anchor in the training graph (any relation, either direction) is
never a negative. The test is vectorised: sorted edge keys `anchor * N_target + candidate`
per (anchor type, target type) and `torch.searchsorted`. The positive itself (same node as
the target) is always masked. Semantic cross-head candidates are the positive node by
design and are never masked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rankgraph.config.train import NegativesConfig
from rankgraph.graph.store import HeteroGraph

IN_BATCH, POOL, SEMANTIC = 0, 1, 2
SOURCE_NAMES = {IN_BATCH: "in_batch", POOL: "pool", SEMANTIC: "semantic"}


class NeighbourIndex:
    """Membership test "is (a, b) an edge of the training graph?" for typed node pairs.

    Per (anchor type, candidate type): the sorted unique keys `a * N_b + b` of every edge
    between the two types (any relation, either direction), and the same as a CSR over `a`
    (`indptr`, `nbr`), so a whole candidate matrix can be tested from the anchors' neighbour
    lists (sum of degrees searches) instead of one search per (anchor, candidate) cell.
    """

    def __init__(self, graph: HeteroGraph, device: torch.device | str = "cpu") -> None:
        parts: dict[tuple[str, str], list[np.ndarray]] = {}
        for rel in graph.relations.values():
            if rel.num_edges == 0:
                continue
            src = np.asarray(rel.indices, dtype=np.int64)
            dst = rel.dst_index()
            n_src, n_dst = graph.num_nodes[rel.src_type], graph.num_nodes[rel.dst_type]
            parts.setdefault((rel.src_type, rel.dst_type), []).append(src * n_dst + dst)
            parts.setdefault((rel.dst_type, rel.src_type), []).append(dst * n_src + src)
        self.num_nodes = dict(graph.num_nodes)
        self.keys: dict[tuple[str, str], Tensor] = {}
        self.indptr: dict[tuple[str, str], Tensor] = {}
        self.nbr: dict[tuple[str, str], Tensor] = {}
        for (a_t, b_t), v in parts.items():
            keys = np.unique(np.concatenate(v))
            n_b = self.num_nodes[b_t]
            indptr = np.zeros(self.num_nodes[a_t] + 1, dtype=np.int64)
            np.cumsum(np.bincount(keys // n_b, minlength=self.num_nodes[a_t]), out=indptr[1:])
            self.keys[(a_t, b_t)] = torch.from_numpy(keys).to(device)
            self.indptr[(a_t, b_t)] = torch.from_numpy(indptr).to(device)
            self.nbr[(a_t, b_t)] = torch.from_numpy(keys % n_b).to(device)

    def contains(self, a_type: str, a: Tensor, b_type: str, b: Tensor) -> Tensor:
        """Bool tensor of the broadcast shape of `a` and `b`: True where (a, b) is an edge."""
        keys = self.keys.get((a_type, b_type))
        shape = torch.broadcast_shapes(a.shape, b.shape)
        if keys is None or keys.numel() == 0:
            return torch.zeros(shape, dtype=torch.bool, device=a.device)
        q = (a * self.num_nodes[b_type] + b).clamp(min=0)
        pos = torch.searchsorted(keys, q.reshape(-1)).clamp_(max=keys.numel() - 1)
        return (keys[pos] == q.reshape(-1)).reshape(shape)

    def known_matrix(self, a_type: str, anchors: Tensor, b_type: str, columns: Tensor) -> Tensor:
        """Bool [n, K]: True where `columns[k]` (shared by every row; -1 = skip) is a neighbour
        of `anchors[i]`. Cost: O(sum of the anchors' degrees * log K), not O(n * K)."""
        n, k = anchors.shape[0], columns.shape[0]
        out = torch.zeros((n, k), dtype=torch.bool, device=anchors.device)
        indptr = self.indptr.get((a_type, b_type))
        if indptr is None or n == 0 or k == 0:
            return out
        nbr = self.nbr[(a_type, b_type)]
        start, deg = indptr[anchors], indptr[anchors + 1] - indptr[anchors]
        total = int(deg.sum())
        if total == 0:
            return out
        row = torch.repeat_interleave(torch.arange(n, device=anchors.device), deg, output_size=total)
        excl = torch.cumsum(deg, 0) - deg
        neighbours = nbr[start[row] + torch.arange(total, device=anchors.device) - excl[row]]
        sorted_cols, order = torch.sort(columns, stable=True)
        lo = torch.searchsorted(sorted_cols, neighbours)
        hi = torch.searchsorted(sorted_cols, neighbours, right=True)
        cnt = hi - lo
        m = int(cnt.sum())
        if m == 0:
            return out
        rr = torch.repeat_interleave(row, cnt, output_size=m)
        ex = torch.cumsum(cnt, 0) - cnt
        idx = torch.repeat_interleave(lo - ex, cnt, output_size=m) + torch.arange(m, device=anchors.device)
        out[rr, order[idx]] = True
        return out


class NegativePool:
    """Per-node-type ring buffer of negative node ids (and stored embeddings, mini-batch mode).

    State (`state_dict`) is plain tensors and ints, so it checkpoints with weights_only.
    """

    def __init__(self, num_nodes: dict[str, int], cfg: NegativesConfig, degree: dict[str, np.ndarray] | None = None):
        self.cfg = cfg
        self.types = sorted(num_nodes)
        self.num_nodes = dict(num_nodes)
        size = cfg.pool_size
        self.ids = {t: torch.full((size,), -1, dtype=torch.long) for t in self.types}
        self.emb: dict[str, Tensor] = {}
        self.ptr = {t: 0 for t in self.types}
        self._cdf: dict[str, Tensor] = {}
        self._log_p: dict[str, Tensor] = {}
        for t in self.types:
            n = num_nodes[t]
            if cfg.pool_sampling == "degree" and degree is not None and t in degree:
                w = np.power(np.asarray(degree[t], dtype=np.float64) + 1.0, cfg.pool_degree_power)
            else:
                w = np.ones(n, dtype=np.float64)
            p = w / w.sum()
            self._cdf[t] = torch.from_numpy(np.cumsum(p))
            self._log_p[t] = torch.from_numpy(np.log(p)).float()

    def refresh(self, generator: torch.Generator) -> dict[str, Tensor]:
        """Replace the oldest `pool_samples` ids of each type; returns the fresh ids per type."""
        fresh = {}
        k = self.cfg.pool_samples
        size = self.cfg.pool_size
        for t in self.types:
            u = torch.rand(k, generator=generator, dtype=torch.float64)
            cdf = self._cdf[t]
            new = torch.searchsorted(cdf, u * cdf[-1], right=True).clamp_(max=cdf.shape[0] - 1)
            slots = (torch.arange(k) + self.ptr[t]) % size
            self.ids[t][slots] = new
            self.ptr[t] = int((self.ptr[t] + k) % size)
            fresh[t] = new
        return fresh

    def fresh_slots(self, node_type: str) -> Tensor:
        """Slots written by the last `refresh` (valid right after it)."""
        k, size = self.cfg.pool_samples, self.cfg.pool_size
        return (torch.arange(k) + self.ptr[node_type] - k) % size

    def store(self, node_type: str, emb: Tensor) -> None:
        """Keep detached embeddings of the freshly drawn ids (mini-batch mode)."""
        if node_type not in self.emb:
            self.emb[node_type] = torch.zeros((self.cfg.pool_size, *emb.shape[1:]), dtype=emb.dtype, device=emb.device)
        self.emb[node_type][self.fresh_slots(node_type).to(emb.device)] = emb.detach()

    def log_q(self, node_type: str, ids: Tensor) -> Tensor:
        """log(expected count of each id in the pool): log(pool_size * p(id))."""
        return self._log_p[node_type].to(ids.device)[ids.clamp(min=0)] + math.log(self.cfg.pool_size)

    def state_dict(self) -> dict:
        return {
            "ids": {t: v.clone() for t, v in self.ids.items()},
            "emb": {t: v.detach().cpu().clone() for t, v in self.emb.items()},
            "ptr": dict(self.ptr),
        }

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.ids = {t: v.clone() for t, v in state["ids"].items()}
        self.emb = {t: v.clone().to(device) for t, v in state["emb"].items()}
        self.ptr = {t: int(v) for t, v in state["ptr"].items()}


@dataclass
class CandidateGroup:
    """Anchors whose target has type `node_type`, with their masked candidate set.

    rows      LongTensor [b]        positions of these anchors in the batch
    pos       Tensor [H, b]         cosine(anchor, target)
    neg       Tensor [H, b, K]      cosine(anchor, candidate)
    mask      BoolTensor [b, K]     valid negatives
    source    LongTensor [K]        IN_BATCH / POOL / SEMANTIC per column
    col_ids   LongTensor [K]        node of each in-batch / pool column (-1 for semantic ones,
                                    whose node is the row's own target); `cand_ids` expands it
    target_ids LongTensor [b]       the positive target of each anchor
    log_q_pos Tensor [b] | None,  log_q_neg Tensor [K] | None   (logQ correction)
    """

    node_type: str
    rows: Tensor
    pos: Tensor
    neg: Tensor
    mask: Tensor
    source: Tensor
    col_ids: Tensor
    target_ids: Tensor
    log_q_pos: Tensor | None = None
    log_q_neg: Tensor | None = None

    @property
    def cand_ids(self) -> Tensor:
        """Node id of every candidate, [b, K] (materialised on demand: tests, inspection)."""
        ids = self.col_ids.unsqueeze(0).expand(self.target_ids.shape[0], -1).clone()
        sem = self.source == SEMANTIC
        ids[:, sem] = self.target_ids.unsqueeze(1)
        return ids


@dataclass
class PoolView:
    """Pool candidates of one type at this step: ids [P] (-1 = empty) and embeddings [P, H, D]."""

    ids: Tensor
    emb: Tensor


def build_candidates(
    type_names: list[str],
    anchor_type: Tensor,
    anchor_ids: Tensor,
    anchor_emb: Tensor,
    target_type: Tensor,
    target_ids: Tensor,
    target_emb: Tensor,
    cfg: NegativesConfig,
    pools: dict[str, PoolView] | None = None,
    neighbours: NeighbourIndex | None = None,
    log_q_target: dict[str, Tensor] | None = None,
    pool_log_q: dict[str, Tensor] | None = None,
    families: dict[str, list[str]] | None = None,
) -> list[CandidateGroup]:
    """Mix the enabled samplers into one candidate set per anchor, grouped by target type.

    anchor_type / target_type: LongTensor [B], index into `type_names` per row; *_ids LongTensor [B];
    *_emb Tensor [B, H, D] L2-normalised. `pools[t]` are this step's pool candidates of type t;
    `log_q_target[t]` [N_t] is log(expected count of each node as an in-batch target) and
    `pool_log_q[t]` [P] the same for the pool's entries; both only when logQ is on.
    `families[t]`: the node types whose in-batch targets and pool entries are candidates for
    an anchor whose target has type t (default: t alone). With every item type in one family
    the softmax compares a user's post against videos and ads too, as retrieval over the
    stacked catalogue does; otherwise per-type offsets go unpenalised and items separate by
    type instead of by interest.
    """
    B, H, _ = anchor_emb.shape
    if target_emb.shape != anchor_emb.shape or anchor_ids.shape != (B,) or target_ids.shape != (B,):
        raise ValueError(
            f"anchor/target shapes disagree: {tuple(anchor_emb.shape)}, {tuple(target_emb.shape)}, "
            f"{tuple(anchor_ids.shape)}, {tuple(target_ids.shape)}"
        )
    device = anchor_emb.device
    tgt_code, anc_code = target_type.to(device), anchor_type.to(device)
    present_anchor = [int(c) for c in torch.unique(anc_code).tolist()]
    groups = []
    for code in torch.unique(tgt_code).tolist():
        t = type_names[int(code)]
        rows = torch.nonzero(tgt_code == code).flatten()
        a = anchor_emb[rows]  # [b, H, D]
        p = target_emb[rows]
        tid = target_ids[rows]
        b = rows.shape[0]
        pos = torch.einsum("bhd,bhd->hb", a, p)
        # Column-wise pieces: every in-batch and pool column holds the same node in every row.
        sims, cols, ctypes, valid, sources, lq = [], [], [], [], [], []
        want_lq = log_q_target is not None and t in log_q_target
        family = (families or {}).get(t, [t])
        code_of = {name: i for i, name in enumerate(type_names)}
        for ft in family:
            if cfg.in_batch and ft in code_of:
                frows = rows if ft == t else torch.nonzero(tgt_code == code_of[ft]).flatten()
                if frows.numel():
                    fid = target_ids[frows]
                    sims.append(torch.einsum("bhd,khd->hbk", a, target_emb[frows]))
                    cols.append(fid)
                    ctypes.append(torch.full((fid.shape[0],), code_of[ft], device=device))
                    valid.append(torch.ones(fid.shape[0], dtype=torch.bool, device=device))
                    sources.append(torch.full((fid.shape[0],), IN_BATCH, device=device))
                    if want_lq:
                        flq = log_q_target.get(ft)
                        lq.append(flq[fid] if flq is not None else torch.zeros(fid.shape[0], device=device))
            if cfg.pool and pools is not None and ft in pools:
                pv = pools[ft]
                n_pool = pv.ids.shape[0]
                sims.append(torch.einsum("bhd,khd->hbk", a, pv.emb))
                cols.append(pv.ids)
                ctypes.append(torch.full((n_pool,), code_of.get(ft, -1), device=device))
                valid.append(pv.ids >= 0)
                sources.append(torch.full((n_pool,), POOL, device=device))
                if want_lq:
                    has_pool_lq = pool_log_q is not None and ft in pool_log_q
                    lq.append(pool_log_q[ft] if has_pool_lq else torch.zeros(n_pool, device=device))
        if cfg.semantic and H > 1:
            # Column j holds v's head (h + 1 + j) % H as a negative for u's head h.
            other = torch.stack([p.roll(-(j + 1), dims=1) for j in range(H - 1)], dim=2)  # [b, H, H-1, D]
            sims.append(torch.einsum("bhd,bhjd->hbj", a, other))
            cols.append(torch.full((H - 1,), -1, dtype=torch.long, device=device))  # per row: the target
            ctypes.append(torch.full((H - 1,), int(code), device=device))
            valid.append(torch.ones(H - 1, dtype=torch.bool, device=device))
            sources.append(torch.full((H - 1,), SEMANTIC, device=device))
            if want_lq:
                lq.append(torch.zeros(H - 1, device=device))
        if sims:
            neg = torch.cat(sims, dim=-1) if len(sims) > 1 else sims[0]
            col_ids = torch.cat(cols).long()
            source = torch.cat(sources).long()
            # The positive's own node (and its duplicates in the batch) is never a negative;
            # semantic columns carry -1 here, so they are never caught by this test.
            col_types = torch.cat(ctypes).long()
            same = col_types == int(code)
            mask = torch.cat(valid).unsqueeze(0) & ~(same.unsqueeze(0) & (col_ids.unsqueeze(0) == tid.unsqueeze(1)))
            if cfg.mask_false_negatives and neighbours is not None:
                for acode in present_anchor:
                    sel = anc_code[rows] == acode
                    if not sel.any():
                        continue
                    for ccode in torch.unique(col_types).tolist():
                        in_type = col_types == ccode
                        ids = torch.where(in_type, col_ids, torch.full_like(col_ids, -1))
                        if ccode < 0 or not bool((ids >= 0).any()):
                            continue
                        known = neighbours.known_matrix(type_names[acode], anchor_ids[rows][sel], type_names[ccode], ids)
                        mask[sel] &= ~known
        else:
            neg = a.new_zeros(H, b, 0)
            col_ids = torch.zeros(0, dtype=torch.long, device=device)
            source = torch.zeros(0, dtype=torch.long, device=device)
            mask = torch.zeros(b, 0, dtype=torch.bool, device=device)
        log_q_pos = log_q_neg = None
        if want_lq:
            log_q_pos = log_q_target[t][tid]
            log_q_neg = torch.cat(lq) if lq else torch.zeros(0, device=device)
        groups.append(CandidateGroup(t, rows, pos, neg, mask, source, col_ids, tid, log_q_pos, log_q_neg))
    return groups
