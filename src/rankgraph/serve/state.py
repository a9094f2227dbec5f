"""What the service answers from: one loaded embeddings artifact, and the registry that swaps it.

`ServiceState` is immutable once built (the artifact, its `Retriever`, id maps and the seen
items mapped onto its rows), so a request that picked a state keeps a consistent view for
its whole life. `ServiceRegistry` holds the current state; `/reload` and the manifest
watcher build a new state off the request path and swap the reference under a lock. A
state that fails to load is never swapped in.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from rankgraph.artifact import MANIFEST, read_manifest
from rankgraph.embed.artifact import KIND as EMBEDDINGS_KIND
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.cluster import assign
from rankgraph.embed.index import EmbeddingIndex, Retriever
from rankgraph.embed.readout import PopularityReadout, probability_scale
from rankgraph.errors import ArtifactError, RankGraphError
from rankgraph.evaluate.engagement_recall import candidates_from_triggers
from rankgraph.graph.store import HeteroGraph
from rankgraph.serve.config import ServeConfig


class IdTypeError(RankGraphError):
    """A raw id of the wrong kind (a string for a type with integer ids, or the reverse)."""


class PathRefused(RankGraphError):
    """A `/reload` path outside the allowed root, or spelled with `..`."""


class ReloadBusy(RankGraphError):
    """A reload is already running."""


class IdMap:
    """Raw id <-> row of one node type, vectorised: sorted ids and `searchsorted`.

    Integer ids are kept as int64 and string ids as a numpy unicode array, so a lookup of
    many ids is one binary search and no per-node Python dict is built.
    """

    def __init__(self, ids: pa.Array) -> None:
        self.is_int = pa.types.is_integer(ids.type)
        if self.is_int:
            self.ids = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64)
        else:
            self.ids = np.asarray([str(v) for v in ids.to_pylist()], dtype=str)
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted = self.ids[self._order]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def coerce(self, values: list[Any], *, node_type: str) -> np.ndarray:
        """The ids as an array of this map's kind; refuses a string for integer ids and vice versa."""
        want = int if self.is_int else str
        bad = [v for v in values if not isinstance(v, want) or isinstance(v, bool)]
        if bad:
            kind = "integer" if self.is_int else "string"
            raise IdTypeError(f"node type '{node_type}' has {kind} ids, got {bad[0]!r}")
        return np.asarray(values, dtype=np.int64 if self.is_int else str)

    def rows(self, values: np.ndarray) -> np.ndarray:
        """Row of each id (int64), -1 where the id is unknown."""
        values = np.asarray(values, dtype=self.ids.dtype if self.is_int else str)
        if len(self) == 0 or values.size == 0:
            return np.full(values.shape, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._sorted, values), len(self) - 1)
        found = self._sorted[pos] == values
        return np.where(found, self._order[pos], -1).astype(np.int64)

    def raw(self, rows: np.ndarray) -> list[Any]:
        """Raw ids (Python int or str) of `rows`."""
        return self.ids[np.asarray(rows, dtype=np.int64)].tolist()


class SeenItems:
    """Each user's already-engaged items, read from a graph artifact's engagement relations.

    A user's items are the in-neighbours of the user in the reverse engagement relations
    (`<item_type>__rev_<rel>__user`, CSR over users). Graph rows are mapped to the
    embeddings' rows by raw id, so the two artifacts need not share a row order; nodes
    missing from the embeddings are dropped.
    """

    def __init__(self, graph: HeteroGraph, emb: EmbeddingSet, users: IdMap, items: dict[str, IdMap], offsets: dict[str, int]) -> None:
        ut = emb.user_type
        if ut not in graph.ids:
            raise ArtifactError(f"graph has no id map for the user type '{ut}'")
        self.user_to_graph = IdMap(graph.ids[ut]).rows(users.ids)
        self.relations = []
        for rel in graph.relations.values():
            if rel.kind != "engagement" or rel.dst_type != ut or rel.src_type not in items or rel.src_type not in graph.ids:
                continue
            to_global = items[rel.src_type].rows(IdMap(graph.ids[rel.src_type]).ids)
            to_global = np.where(to_global >= 0, to_global + offsets[rel.src_type], -1)
            self.relations.append((rel, to_global))
        self.relation_names = sorted(rel.name for rel, _ in self.relations)

    def of(self, user_row: int) -> np.ndarray:
        """Global item rows (sorted, unique) the user engaged with in the graph."""
        g = int(self.user_to_graph[user_row])
        if g < 0 or not self.relations:
            return np.zeros(0, dtype=np.int64)
        parts = []
        for rel, to_global in self.relations:
            lo, hi = int(rel.indptr[g]), int(rel.indptr[g + 1])
            parts.append(to_global[np.asarray(rel.indices[lo:hi], dtype=np.int64)])
        rows = np.concatenate(parts)
        return np.unique(rows[rows >= 0])


@dataclass
class ServiceState:
    """One loaded embeddings artifact with everything needed to answer from it."""

    path: Path
    manifest: dict[str, Any]
    emb: EmbeddingSet
    retriever: Retriever
    ids: dict[str, IdMap]
    domains: list[str]
    seen: SeenItems | None
    neighbours: int
    trigger_weights: dict[str, float]
    loaded_at: float
    load_seconds: float
    signature: tuple[int, int, int] | None = None
    item_domain: np.ndarray | None = field(default=None, repr=False)

    @property
    def user_type(self) -> str:
        return self.emb.user_type

    def index_for(self, node_type: str) -> EmbeddingIndex:
        """The index a search over `node_type` targets (all item types share one)."""
        return self.retriever.users if node_type == self.user_type else self.retriever.items

    def vector(self, node_type: str, row: int) -> np.ndarray:
        """The embedding of one node (global item row space is not used here)."""
        return np.asarray(self.emb.types[node_type].vectors[row], dtype=np.float32)

    def global_row(self, item_type: str, rows: np.ndarray) -> np.ndarray:
        return self.retriever.global_rows(item_type, rows)

    def describe_items(self, rows: np.ndarray) -> tuple[list[str], list[Any], list[str | None]]:
        """(item type, raw id, domain) of global item rows."""
        rows = np.asarray(rows, dtype=np.int64)
        codes = self.retriever.item_type_code[rows]
        local = rows - self.retriever.offsets[codes]
        raw = np.empty(rows.size, dtype=object)
        for c, t in enumerate(self.retriever.item_types):  # a loop over item types, not items
            m = codes == c
            if m.any():
                raw[m] = self.ids[t].raw(local[m])
        types = np.asarray(self.retriever.item_types, dtype=object)[codes].tolist()
        doms = self.item_domain[rows].tolist() if self.item_domain is not None else [None] * rows.size
        return types, raw.tolist(), doms

    def assign_clusters(self, node_type: str, rows: np.ndarray) -> np.ndarray:
        """Nearest-centroid cluster of each row; ArtifactError when the type has no centroids."""
        node = self.emb.types[node_type]
        if node.centroids is None:
            raise ArtifactError(f"the embeddings artifact has no centroids for node type '{node_type}'")
        return assign(np.asarray(node.vectors[np.asarray(rows, dtype=np.int64)]), node.centroids)

    def score_triggers(
        self,
        trigger_rows: np.ndarray,
        weights: np.ndarray,
        k: int,
        *,
        exclude: np.ndarray,
        domain: str | None = None,
        item_type: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Engagement Recall scoring for one anonymous user: (scores [k], global rows [k]).

        Each trigger's top-`neighbours` items (itself left out) are candidates scored by the
        sum over triggers of weight x similarity, with `candidates_from_triggers`, the very
        function the evaluation uses; with a read-out the similarity is on the probability
        scale (`probability_scale`), as in evaluation. Its trigger columns index the neighbour
        table, so the table here holds only the triggers' rows instead of every item's.
        """
        uniq, inv = np.unique(np.asarray(trigger_rows, dtype=np.int64), return_inverse=True)
        w = np.bincount(inv, weights=np.asarray(weights, dtype=np.float64), minlength=uniq.size)
        nbr_s, nbr_r = self.retriever.item_to_item(uniq, self.neighbours, domain=domain, item_type=item_type)
        if self.retriever.readout is not None:
            nbr_s = probability_scale(nbr_s, self.retriever.readout.temperature)
        n_items = self.retriever.items.n
        trig = sp.csr_array((w, (np.zeros(uniq.size, np.int64), np.arange(uniq.size))), shape=(1, n_items))
        excl = np.unique(np.asarray(exclude, dtype=np.int64))
        s, r = candidates_from_triggers(trig, nbr_s, nbr_r, k, exclude=(np.array([0, excl.size], np.int64), excl))
        return s[0], r[0]


def manifest_signature(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime ns, size) of an artifact's manifest: changes when the artifact is rewritten."""
    try:
        st = os.stat(Path(path) / MANIFEST)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def load_state(path: str | os.PathLike[str], cfg: ServeConfig, graph: HeteroGraph | None = None) -> ServiceState:
    """Load and index an embeddings artifact; any defect raises ArtifactError (nothing is served)."""
    t0 = time.perf_counter()
    path = Path(path)
    signature = manifest_signature(path)
    manifest = read_manifest(path, EMBEDDINGS_KIND)
    emb = EmbeddingSet.load(path, checksums=cfg.verify_checksums)
    if emb.user_type not in emb.types:
        raise ArtifactError(f"{path}: no embeddings for the user type '{emb.user_type}'")
    if not emb.item_types:
        raise ArtifactError(f"{path}: no item types")
    try:
        readout = PopularityReadout.of(emb, emb.item_types, cfg.popularity_readout)
        retriever = Retriever(emb, cfg.index, readout=readout)
    except RankGraphError as exc:
        raise ArtifactError(f"{path}: cannot index the embeddings ({exc})") from exc
    ids = {t: IdMap(node.ids) for t, node in emb.types.items()}
    _, _, item_domain = emb.stacked_items(retriever.item_types)
    domains = sorted({d for d in item_domain.tolist() if d is not None})
    if cfg.prebuild_filters:
        # build the per-domain and per-type sub-indexes now, not on a request's time
        q = np.asarray(retriever.items.vectors[:1])
        for d in domains:
            retriever.items.search(q, 1, domain=d)
        for t in retriever.item_types:
            retriever.items.search(q, 1, item_type=t)
    offsets = {t: int(o) for t, o in zip(retriever.item_types, retriever.offsets[:-1].tolist())}
    seen = None
    if graph is not None:
        seen = SeenItems(graph, emb, ids[emb.user_type], {t: ids[t] for t in retriever.item_types}, offsets)
    return ServiceState(
        path=path,
        manifest=manifest,
        emb=emb,
        retriever=retriever,
        ids=ids,
        domains=domains,
        seen=seen,
        neighbours=cfg.neighbours,
        trigger_weights=dict(cfg.trigger_weights),
        loaded_at=time.time(),
        load_seconds=time.perf_counter() - t0,
        signature=signature,
        item_domain=item_domain if domains else None,
    )


class ServiceRegistry:
    """The current `ServiceState`, swapped atomically by background reloads.

    Readers take `current` (one reference read) and use that state to the end of their
    request; a reload builds the new state fully, then replaces the reference under
    `_lock`. One reload runs at a time; a failed one leaves the current state serving.
    """

    def __init__(self, cfg: ServeConfig, state: ServiceState, graph: HeteroGraph | None = None, on_reload: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.root = cfg.root()
        self.graph = graph
        self._state = state
        self._lock = threading.Lock()
        self._reloading = threading.Lock()
        self.on_reload = on_reload
        self.last_reload: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @classmethod
    def open(cls, cfg: ServeConfig, on_reload: Callable[[str], None] | None = None) -> ServiceRegistry:
        """Load the graph (when given) and the startup artifact."""
        graph = HeteroGraph.load(cfg.graph) if cfg.graph is not None else None
        return cls(cfg, load_state(cfg.embeddings, cfg, graph), graph, on_reload)

    @property
    def current(self) -> ServiceState:
        return self._state

    def check_path(self, raw: str) -> Path:
        """The resolved artifact path, or PathRefused when it leaves the allowed root."""
        if not raw or ".." in Path(raw).parts:
            raise PathRefused(f"reload path {raw!r} is refused: '..' is not allowed")
        p = Path(raw)
        resolved = (p if p.is_absolute() else self.root / p).resolve()
        if not resolved.is_relative_to(self.root):
            raise PathRefused(f"reload path {raw!r} resolves to {resolved}, outside the allowed root {self.root}")
        return resolved

    def reload(self, path: Path) -> ServiceState:
        """Load `path` and swap it in (blocking); ArtifactError leaves the current state."""
        t0 = time.time()
        record: dict[str, Any] = {"path": str(path), "started_at": t0}
        try:
            state = load_state(path, self.cfg, self.graph)
        except RankGraphError as exc:
            record.update(status="refused", error=str(exc), finished_at=time.time())
            self.last_reload = record
            if self.on_reload:
                self.on_reload("refused")
            raise
        except Exception as exc:  # an unexpected defect in the files must not kill the service
            record.update(status="refused", error=f"{type(exc).__name__}: {exc}", finished_at=time.time())
            self.last_reload = record
            if self.on_reload:
                self.on_reload("refused")
            raise ArtifactError(f"{path}: cannot load ({type(exc).__name__}: {exc})") from exc
        with self._lock:
            self._state = state
        record.update(status="ok", finished_at=time.time(), load_seconds=state.load_seconds)
        self.last_reload = record
        if self.on_reload:
            self.on_reload("ok")
        return state

    def start_reload(self, path: Path) -> concurrent.futures.Future:
        """Reload in a background thread; ReloadBusy when one is already running."""
        if not self._reloading.acquire(blocking=False):
            raise ReloadBusy("a reload is already running; retry when it has finished")
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self.last_reload = {"path": str(path), "started_at": time.time(), "status": "loading"}

        def run() -> None:
            # the lock is released before the future resolves, so whoever sees the result
            # can start the next reload at once
            try:
                state = self.reload(path)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the future
                self._reloading.release()
                fut.set_exception(exc)
                return
            self._reloading.release()
            fut.set_result(state)

        threading.Thread(target=run, name="rankgraph-reload", daemon=True).start()
        return fut

    # ------------------------------------------------------------------ watcher
    def start_watcher(self, interval_s: float) -> None:
        """Poll the current artifact's manifest.json; reload the same path when it changes."""
        if interval_s <= 0 or self._watcher is not None:
            return

        def loop() -> None:
            seen_sig = self._state.signature
            while not self._stop.wait(interval_s):
                state = self._state
                sig = manifest_signature(state.path)
                if sig is None or sig == seen_sig or sig == state.signature:
                    continue
                try:
                    fut = self.start_reload(state.path)
                except ReloadBusy:
                    continue  # another reload is running: look again at the next tick
                seen_sig = sig  # try each new version once; a broken one waits for the next change
                try:
                    fut.result()
                except RankGraphError:
                    pass

        self._watcher = threading.Thread(target=loop, name="rankgraph-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
