"""Layer-wise full-graph inference: every node's served embedding, exactly, without sampling.

GNN inference by sampling is approximate and recomputes shared neighbourhoods for every
seed. Instead we compute layer l for ALL nodes before layer l+1 (as DGL/PyG "layer-wise
inference" does), in destination chunks: a chunk reads its rows of the CSR, gathers only
the source rows it touches from the previous layer's states, and runs the same
`RelationalLayer.forward_type` as training. On CPU the chunk's CSR indexes the previous
states in place; on CUDA only the touched source rows are copied to the device. Peak
memory is the encoder output plus two layers of states (`n * dim` floats each, optionally
in np.memmap files under `memmap_dir`), one chunk's edges and the result; the result
equals `forward_full` up to float rounding. The model must already be on `device`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from rankgraph.graph.store import HeteroGraph
from rankgraph.model.ensemble import EnsembleModel, combine_member_vectors
from rankgraph.model.rankgraph_model import RankGraphModel
from rankgraph.model.tensors import FeatureTensor, SparseAdjacency, edge_coefficients

Progress = Callable[[int, int], None]


def _chunks(n: int, chunk: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]


class _Arrays:
    """Allocates [n, d] float32 arrays in memory or as memmaps in a temporary directory."""

    def __init__(self, memmap_dir: str | Path | None) -> None:
        self.tmp = tempfile.TemporaryDirectory(dir=memmap_dir, prefix="rankgraph-infer-") if memmap_dir else None
        self.count = 0

    def new(self, n: int, d: int) -> np.ndarray:
        if self.tmp is None:
            return np.empty((n, d), dtype=np.float32)
        self.count += 1
        path = Path(self.tmp.name) / f"h{self.count}.f32"
        return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))

    def close(self) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()


def layerwise_embed(
    model: RankGraphModel | EnsembleModel,
    graph: HeteroGraph,
    device: torch.device | str = "cpu",
    chunk: int | None = None,
    progress: Progress | None = None,
    memmap_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """Served embeddings `{type: float32 [n_t, E]}` of every node, computed layer by layer.

    `chunk` destination rows are processed at a time (default `model.cfg.inference_chunk`);
    `progress(done, total)` is called after each chunk; `memmap_dir` puts intermediate
    layer states in temporary memory-mapped files (for graphs whose states exceed RAM).
    An `EnsembleModel` embeds member by member and serves their combined vectors.
    """
    if isinstance(model, EnsembleModel):
        return _ensemble_embed(model, graph, device, chunk, progress, memmap_dir)
    cfg = model.cfg
    chunk = int(chunk or cfg.inference_chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    model.schema.check_graph(graph)
    device = torch.device(device)
    types = list(graph.num_nodes)
    n_stacks = len(model.stacks)
    steps = sum(len(_chunks(n, chunk)) for n in graph.num_nodes.values())
    total = steps * (2 + n_stacks * cfg.num_layers)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    out_deg = (
        {
            name: np.bincount(np.asarray(r.indices), minlength=graph.num_nodes[r.src_type]).astype(np.float32)
            for name, r in graph.relations.items()
        }
        if cfg.norm == "symmetric"
        else {}
    )
    arrays = _Arrays(memmap_dir)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            h0 = {}
            for t in types:
                h0[t] = arrays.new(graph.num_nodes[t], cfg.dim)
                cols = graph.features.get(t, {})
                for lo, hi in _chunks(graph.num_nodes[t], chunk):
                    rows = np.arange(lo, hi)
                    feats = {name: FeatureTensor.from_column(col, device, rows) for name, col in cols.items()}
                    ids = torch.arange(lo, hi, device=device)
                    h0[t][lo:hi] = model.encoder.encode(t, feats, None, ids).cpu().numpy()
                    tick()
            finals = []
            for stack in model.stacks:
                states = h0
                for layer in stack:
                    new = {t: arrays.new(graph.num_nodes[t], cfg.dim) for t in types}
                    for t in types:
                        for lo, hi in _chunks(graph.num_nodes[t], chunk):
                            h_dst = torch.from_numpy(np.asarray(states[t][lo:hi])).to(device)
                            h_src, adj = {}, {}
                            for rel in layer.relations_into(t):
                                h_src[rel.name], adj[rel.name] = _chunk_adjacency(
                                    graph, rel.name, states, lo, hi, cfg.norm, out_deg.get(rel.name), device
                                )
                            new[t][lo:hi] = layer.forward_type(t, h_dst, h_src, adj).cpu().numpy()
                            tick()
                    states = new
                finals.append(states)
            h0 = states = None  # only the last layer of each stack is still needed
            result = {}
            for t in types:
                result[t] = np.empty((graph.num_nodes[t], model.embedding_dim), dtype=np.float32)
                for lo, hi in _chunks(graph.num_nodes[t], chunk):
                    parts = [torch.from_numpy(np.asarray(f[t][lo:hi])).to(device) for f in finals]
                    result[t][lo:hi] = model.served(model.head_outputs(parts)).cpu().numpy()
                    tick()
    finally:
        model.train(was_training)
        arrays.close()
    return result


def _ensemble_embed(
    model: EnsembleModel,
    graph: HeteroGraph,
    device: torch.device | str,
    chunk: int | None,
    progress: Progress | None,
    memmap_dir: str | Path | None,
) -> dict[str, np.ndarray]:
    """Every member through `layerwise_embed`, progress summed over members, then combined."""
    k = len(model.members)
    parts = []
    for m, member in enumerate(model.members):
        tick = None if progress is None else (lambda done, total, m=m: progress(m * total + done, k * total))
        parts.append(layerwise_embed(member, graph, device, chunk, tick, memmap_dir))
    return combine_member_vectors(parts)


def _chunk_adjacency(
    graph: HeteroGraph,
    name: str,
    states: dict[str, np.ndarray],
    lo: int,
    hi: int,
    norm: str,
    out_deg: np.ndarray | None,
    device: torch.device,
) -> tuple[torch.Tensor, SparseAdjacency]:
    """Source rows touched by destinations `lo:hi` of relation `name`, and the local normalised CSR."""
    rel = graph.relations[name]
    indptr = np.asarray(rel.indptr[lo : hi + 1], dtype=np.int64)
    a, b = int(indptr[0]), int(indptr[-1])
    idx = np.asarray(rel.indices[a:b])
    w = np.asarray(rel.weight[a:b], dtype=np.float32)
    crow = indptr - a
    deg = np.diff(crow)
    csum = np.zeros(b - a + 1, dtype=np.float64)
    np.cumsum(w, out=csum[1:])
    wsum = (csum[crow[1:]] - csum[crow[:-1]]).astype(np.float32)
    src_deg = out_deg[idx] if out_deg is not None else np.ones(len(idx), dtype=np.float32)
    values = edge_coefficients(
        norm,  # type: ignore[arg-type]
        torch.from_numpy(w),
        torch.from_numpy(np.repeat(deg.astype(np.float32), deg)),
        torch.from_numpy(np.ascontiguousarray(src_deg, dtype=np.float32)),
        torch.from_numpy(np.repeat(wsum, deg)),
    )
    src = states[rel.src_type]
    if device.type == "cpu":
        # the previous layer's states are already host memory (or a memmap): index them in place
        x = torch.from_numpy(np.asarray(src))
        cols = torch.from_numpy(idx.astype(np.int64, copy=False))
    else:
        # copy only the source rows this chunk touches to the device
        uniq, local = np.unique(idx, return_inverse=True)
        x = torch.from_numpy(np.ascontiguousarray(src[uniq])).to(device)
        cols = torch.from_numpy(local.astype(np.int64)).to(device)
    adj = SparseAdjacency(torch.from_numpy(crow).to(device), cols, values.to(device), (hi - lo, int(x.shape[0])))
    return x, adj
