"""LightGCN (He et al. 2020): the standard GNN collaborative-filtering baseline.

The user-item bipartite graph of train events (binary), symmetrically normalised
(`D^-1/2 A D^-1/2`), propagated K times with no weights and no nonlinearity; the final
embedding of a node is the mean of its K+1 layer embeddings. Trained with BPR and one
uniformly drawn negative item per positive, Adam, a fixed number of epochs, all draws from
one seeded `torch.Generator`. Message passing reuses the model's `SparseAdjacency` (CSR
spmm whose backward uses the cached transpose).

Users are scored by dot product (what BPR optimises); item neighbours by cosine.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.index import Exclude
from rankgraph.errors import InputError
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.protocol import EmbeddingRecommender
from rankgraph.model.tensors import SparseAdjacency


def normalized_bipartite(x: sp.csr_array) -> SparseAdjacency:
    """`D^-1/2 [[0, X], [X^T, 0]] D^-1/2` over users then items, as a constant CSR."""
    n_users, n_items = x.shape
    a = sp.bmat([[None, x], [x.T, None]], format="csr", dtype=np.float32)
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0).astype(np.float32)
    a = sp.csr_array(sp.diags(inv) @ a @ sp.diags(inv))
    a.sort_indices()
    n = n_users + n_items
    return SparseAdjacency(
        torch.from_numpy(a.indptr.astype(np.int64)),
        torch.from_numpy(a.indices.astype(np.int64)),
        torch.from_numpy(a.data.astype(np.float32)),
        (n, n),
    )


class LightGCN:
    """LightGCN fitted on `EvalData` train only; a `Recommender` once fitted."""

    def __init__(
        self,
        layers: int = 3,
        dim: int = 64,
        lr: float = 5e-3,
        epochs: int = 15,
        batch_size: int = 8192,
        reg: float = 1e-4,
        init_std: float = 0.1,
        seed: int = 0,
        index: IndexConfig | None = None,
    ) -> None:
        if layers < 0 or dim < 1 or epochs < 1 or batch_size < 1:
            raise InputError(f"lightgcn: bad parameters layers={layers} dim={dim} epochs={epochs} batch_size={batch_size}")
        self.params = dict(layers=layers, dim=dim, lr=lr, epochs=epochs, batch_size=batch_size, reg=reg)
        self.init_std, self.seed, self.index = init_std, seed, index
        self.losses: list[float] = []
        self._rec: EmbeddingRecommender | None = None

    def _propagate(self, adj: SparseAdjacency, e0: torch.Tensor) -> torch.Tensor:
        """Mean of the layer embeddings e0, A e0, ..., A^K e0."""
        acc, h = e0, e0
        for _ in range(self.params["layers"]):
            h = adj.matmul(h)
            acc = acc + h
        return acc / (self.params["layers"] + 1)

    def fit(self, data: EvalData) -> LightGCN:
        x = data.train_matrix(binary=True)
        n_users, n_items = x.shape
        if x.nnz == 0:
            raise InputError("lightgcn: no train interactions to fit on")
        adj = normalized_bipartite(x)
        coo = x.tocoo()
        pos_u = torch.from_numpy(coo.row.astype(np.int64))
        pos_i = torch.from_numpy(coo.col.astype(np.int64))
        gen = torch.Generator().manual_seed(self.seed)
        p = self.params
        e0 = torch.nn.Parameter(torch.randn(n_users + n_items, p["dim"], generator=gen) * self.init_std)
        opt = torch.optim.Adam([e0], lr=p["lr"])
        n_pos, b = pos_u.numel(), p["batch_size"]
        self.losses = []
        for _ in range(p["epochs"]):
            order = torch.randperm(n_pos, generator=gen)
            neg_all = torch.randint(0, n_items, (n_pos,), generator=gen)
            total = 0.0
            for start in range(0, n_pos, b):
                sel = order[start : start + b]
                u, i, j = pos_u[sel], pos_i[sel] + n_users, neg_all[start : start + b] + n_users
                e = self._propagate(adj, e0)
                eu, ei, ej = e[u], e[i], e[j]
                bpr = -torch.nn.functional.logsigmoid((eu * ei).sum(1) - (eu * ej).sum(1)).mean()
                l2 = (e0[u].pow(2).sum() + e0[i].pow(2).sum() + e0[j].pow(2).sum()) / (2 * sel.numel())
                loss = bpr + p["reg"] * l2
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(bpr.detach()) * sel.numel()
            self.losses.append(total / n_pos)
        with torch.no_grad():
            e = self._propagate(adj, e0.detach()).numpy()
        self._rec = EmbeddingRecommender(e[:n_users], e[n_users:], self.index)
        return self

    def score_users(self, user_rows: np.ndarray, k: int, exclude: Exclude = None):
        return self._rec.score_users(user_rows, k, exclude)

    def similar_items(self, item_rows: np.ndarray, k: int):
        return self._rec.similar_items(item_rows, k)
