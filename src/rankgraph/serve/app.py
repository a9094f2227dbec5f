"""The HTTP service: recommendations, neighbours and clusters from an embeddings artifact.

`create_app(cfg)` builds a FastAPI app over a `ServiceRegistry` (the current artifact,
hot-swappable with POST /reload). Requests are JSON validated by strict pydantic models
(unknown fields, wrong types and out-of-range k are 422); unknown ids are 404 naming the
id; bodies over `max_body_bytes` are 413. User->item and node->node searches go through the
`MicroBatcher`, so concurrent requests share one FAISS call. GET /metrics is Prometheus text.

Status codes: 400 a request the artifact cannot answer as asked, 403 a reload path outside
the allowed root, 404 an unknown id/type/domain, 409 a feature the artifact lacks
(centroids, domains, seen items) or a reload already running, 413 a body too large, 422 an
invalid request.
"""

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, Optional, Union

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints, model_validator
from starlette.concurrency import run_in_threadpool

from rankgraph import __version__
from rankgraph.embed.index import EmbeddingIndex
from rankgraph.errors import ArtifactError, RankGraphError
from rankgraph.serve.batching import MicroBatcher
from rankgraph.serve.config import ServeConfig
from rankgraph.serve.metrics import Metrics
from rankgraph.serve.state import IdTypeError, PathRefused, ReloadBusy, ServiceRegistry, ServiceState

MAX_K = 1000
MAX_IDS = 1000

Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=128)]
NodeId = Union[StrictInt, Annotated[StrictStr, StringConstraints(min_length=1, max_length=256)]]
K = Annotated[StrictInt, Field(ge=1, le=MAX_K, description=f"number of results, 1..{MAX_K}")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RecentItem(_Strict):
    """One recent engagement of an anonymous user: a trigger of Engagement Recall scoring."""

    item_type: Name
    id: NodeId
    event: Optional[Name] = Field(None, description="event type; weighs the trigger (evaluate.trigger_weights, default 1)")


class RecommendRequest(_Strict):
    """`mode: user` scores a known user's embedding against the items; `mode: triggers`
    scores the neighbours of `recent_items` (for users the artifact has never seen)."""

    mode: Literal["user", "triggers"] = "user"
    user_id: Optional[NodeId] = None
    recent_items: Optional[Annotated[list[RecentItem], Field(min_length=1, max_length=MAX_IDS)]] = None
    k: K = 10
    domain: Optional[Name] = None
    item_type: Optional[Name] = None
    exclude_seen: Optional[bool] = Field(
        None, description="leave out already-engaged items (default: when known; triggers mode: the recent items)"
    )

    @model_validator(mode="after")
    def _mode_fields(self) -> "RecommendRequest":
        if self.mode == "user" and (self.user_id is None or self.recent_items is not None):
            raise ValueError("mode 'user' needs user_id and no recent_items")
        if self.mode == "triggers" and (self.recent_items is None or self.user_id is not None):
            raise ValueError("mode 'triggers' needs recent_items and no user_id")
        return self


class SimilarRequest(_Strict):
    node_type: Name
    id: NodeId
    k: K = 10
    target_type: Optional[Name] = Field(None, description="type of the neighbours (default: users for a user, any item for an item)")
    domain: Optional[Name] = None


class ClusterRequest(_Strict):
    node_type: Name
    ids: Annotated[list[NodeId], Field(min_length=1, max_length=MAX_IDS)]


class ReloadRequest(_Strict):
    path: Annotated[StrictStr, StringConstraints(min_length=1, max_length=4096)]
    wait: bool = Field(False, description="answer when the load has finished (default: 202 at once)")


class ScoredNode(BaseModel):
    node_type: str
    id: Union[int, str]
    score: float
    domain: Optional[str] = None


class RecommendResponse(BaseModel):
    mode: str
    user_id: Optional[Union[int, str]] = None
    items: list[ScoredNode]
    excluded: int = Field(description="items left out as already engaged")


class SimilarResponse(BaseModel):
    node_type: str
    id: Union[int, str]
    neighbours: list[ScoredNode]


class ClusterResponse(BaseModel):
    node_type: str
    ids: list[Union[int, str]]
    clusters: list[int]


class ReloadResponse(BaseModel):
    status: str
    path: str
    load_seconds: Optional[float] = None


class _BodyLimit:
    """Pure ASGI middleware: bounds the request body (413) and records request metrics."""

    def __init__(self, app: Any, metrics: Metrics, max_body: int, known_paths: frozenset[str] = frozenset()) -> None:
        self.app, self.metrics, self.max_body, self.known_paths = app, metrics, max_body, known_paths

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            body, too_large = b"", False
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                too_large = True
            else:
                chunks, size, more = [], 0, True
                while more:
                    message = await receive()
                    if message["type"] != "http.request":
                        break
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        too_large = True
                        break
                    chunks.append(chunk)
                    more = message.get("more_body", False)
                body = b"".join(chunks)
            if too_large:
                response = JSONResponse({"detail": f"request body larger than {self.max_body} bytes"}, status_code=413)
                await response(scope, receive, send_status)
                return
            sent = False

            async def replay() -> dict:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_status)
        finally:
            # the route template when routed; the path itself when refused before routing (413)
            endpoint = getattr(scope.get("route"), "path", None)
            if endpoint is None:
                endpoint = scope.get("path") if scope.get("path") in self.known_paths else "unmatched"
            self.metrics.observe_request(endpoint, scope.get("method", ""), status["code"], time.perf_counter() - t0)


def configure_threads(threads: int) -> None:
    """Bound FAISS's OpenMP threads (the searches' only parallel part) in the calling thread.

    OpenMP keeps this setting per thread, so every thread that searches calls it: set only
    in the main thread, the batcher and the request threads would run FAISS with one OpenMP
    thread per core, which on a busy machine spins and multiplies latency (measured: 4 ms
    searches took 50 ms on 2 shared cores).
    """
    from rankgraph.capabilities import WITH_FAISS

    if WITH_FAISS and threads > 0:
        import faiss

        faiss.omp_set_num_threads(threads)


def _rows(state: ServiceState, node_type: str, values: list[Any]) -> np.ndarray:
    """Rows of raw ids; 404 naming the first unknown id (or the unknown node type)."""
    if node_type not in state.ids:
        raise HTTPException(404, f"unknown node type {node_type!r} (known: {sorted(state.ids)})")
    idmap = state.ids[node_type]
    rows = idmap.rows(idmap.coerce(values, node_type=node_type))
    missing = np.flatnonzero(rows < 0)
    if missing.size:
        more = f" and {missing.size - 1} more" if missing.size > 1 else ""
        raise HTTPException(404, f"unknown {node_type} id {values[int(missing[0])]!r}{more}")
    return rows


def _check_filters(state: ServiceState, domain: Optional[str], item_type: Optional[str]) -> None:
    if item_type is not None and item_type not in state.retriever.item_types:
        raise HTTPException(404, f"unknown item type {item_type!r} (known: {state.retriever.item_types})")
    if domain is not None:
        if not state.domains:
            raise HTTPException(409, "the embeddings artifact has no item domains, cannot filter by domain")
        if domain not in state.domains:
            raise HTTPException(404, f"unknown domain {domain!r} (known: {state.domains})")


def _items(state: ServiceState, scores: np.ndarray, rows: np.ndarray) -> list[dict]:
    """Result rows as `ScoredNode` dicts (plain dicts: building and re-validating 1000
    pydantic objects per answer would cost more than the search)."""
    ok = rows >= 0
    types, raw, doms = state.describe_items(rows[ok])
    return [
        {"node_type": t, "id": i, "score": s, "domain": d} for t, i, s, d in zip(types, raw, scores[ok].tolist(), doms)
    ]


def create_app(cfg: ServeConfig, registry: Optional[ServiceRegistry] = None) -> FastAPI:
    """The service over `registry` (opened from `cfg.embeddings`/`cfg.graph` when not given)."""
    metrics = Metrics()
    if registry is None:  # indexes are built before the thread bound: startup may use every core
        registry = ServiceRegistry.open(cfg, on_reload=metrics.observe_reload)
    else:
        registry.on_reload = metrics.observe_reload
    configure_threads(cfg.threads)
    batcher = None
    if cfg.batching:
        batcher = MicroBatcher(
            window_s=cfg.batch_window_ms / 1000,
            max_batch=cfg.max_batch,
            on_batch=metrics.observe_batch,
            on_start=lambda: configure_threads(cfg.threads),
        )

    def threaded(fn, *args, **kwargs):
        """Run `fn` in the request thread pool with this service's FAISS thread count."""

        def call():
            configure_threads(cfg.threads)
            return fn(*args, **kwargs)

        return run_in_threadpool(call)

    registry.start_watcher(cfg.watch_interval_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        registry.close()
        if batcher is not None:
            batcher.close()

    app = FastAPI(
        title="RankGraph retrieval service",
        version=__version__,
        description=__doc__,
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.batcher = batcher

    @app.exception_handler(IdTypeError)
    async def _id_type(_: Request, exc: IdTypeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ArtifactError)
    async def _artifact(_: Request, exc: ArtifactError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(RankGraphError)
    async def _rankgraph(_: Request, exc: RankGraphError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    async def search(index: EmbeddingIndex, query: np.ndarray, k: int, exclude: np.ndarray, domain, item_type):
        if batcher is not None:
            fut = batcher.submit(index, query, k, exclude=exclude, domain=domain, item_type=item_type)
            return await asyncio.wrap_future(fut)
        s, r = await threaded(index.search, query[None, :], k, exclude=[exclude], domain=domain, item_type=item_type)
        return s[0], r[0]

    @app.get("/health")
    async def health() -> dict:
        """Liveness: the service answers and has an artifact loaded."""
        state = registry.current
        return {"status": "ok", "artifact": str(state.path), "loaded_at": state.loaded_at}

    @app.get("/info")
    async def info() -> dict:
        """The served artifact: manifest, counts per node type, index kinds, load time, last reload."""
        state = registry.current
        items = state.retriever.items
        return {
            "artifact": str(state.path),
            "manifest": state.manifest,
            "user_type": state.user_type,
            "item_types": state.retriever.item_types,
            "counts": {t: node.count for t, node in state.emb.types.items()},
            "dim": {t: node.dim for t, node in state.emb.types.items()},
            "domains": state.domains,
            "clusters": {t: (None if n.centroids is None else int(n.centroids.shape[0])) for t, n in state.emb.types.items()},
            "index": {
                "items": items.kind,
                "users": state.retriever.users.kind,
                "filtered_items": {f"{d or '*'}/{t or '*'}": b.kind for (d, t), b in list(items._subsets.items())},
            },
            "seen": None if state.seen is None else {"graph": str(cfg.graph), "relations": state.seen.relation_names},
            "loaded_at": state.loaded_at,
            "load_seconds": state.load_seconds,
            "last_reload": registry.last_reload,
            "batching": {"enabled": batcher is not None, "window_ms": cfg.batch_window_ms, "max_batch": cfg.max_batch},
            "threads": cfg.threads,
        }

    @app.post("/recommend", response_model=RecommendResponse)
    async def recommend(req: RecommendRequest) -> JSONResponse:
        """Top-k items for a known user (user->item), or for an anonymous one from recent items."""
        state = registry.current
        _check_filters(state, req.domain, req.item_type)
        if req.mode == "triggers":
            rows, weights = [], []
            by_type: dict[str, list[int]] = {}
            for pos, it in enumerate(req.recent_items or []):
                if it.item_type not in state.retriever.item_types:
                    raise HTTPException(404, f"unknown item type {it.item_type!r} (known: {state.retriever.item_types})")
                by_type.setdefault(it.item_type, []).append(pos)
            rows = np.zeros(len(req.recent_items), np.int64)
            for t, positions in by_type.items():
                local = _rows(state, t, [req.recent_items[p].id for p in positions])
                rows[positions] = state.global_row(t, local)
            weights = np.asarray([state.trigger_weights.get(it.event, 1.0) if it.event else 1.0 for it in req.recent_items])
            exclude = rows if req.exclude_seen is not False else np.zeros(0, np.int64)
            s, r = await threaded(
                state.score_triggers, rows, weights, req.k, exclude=exclude, domain=req.domain, item_type=req.item_type
            )
            body = {"mode": "triggers", "user_id": None, "items": _items(state, s, r), "excluded": int(np.unique(exclude).size)}
            return JSONResponse(body)
        row = int(_rows(state, state.user_type, [req.user_id])[0])
        if req.exclude_seen and state.seen is None:
            raise HTTPException(409, "no seen items loaded (start the service with --graph GRAPH_DIR)")
        exclude = state.seen.of(row) if (state.seen is not None and req.exclude_seen is not False) else np.zeros(0, np.int64)
        query = state.retriever.item_query(state.retriever.users.vectors[row], from_user=True)
        s, r = await search(state.retriever.items, query, req.k, exclude, req.domain, req.item_type)
        return JSONResponse({"mode": "user", "user_id": req.user_id, "items": _items(state, s, r), "excluded": int(exclude.size)})

    @app.post("/similar", response_model=SimilarResponse)
    async def similar(req: SimilarRequest) -> JSONResponse:
        """Nearest neighbours of a node: item->item, user->user (or across, with target_type)."""
        state = registry.current
        row = int(_rows(state, req.node_type, [req.id])[0])
        ut = state.user_type
        target = req.target_type or (ut if req.node_type == ut else None)
        if target is not None and target != ut:
            _check_filters(state, req.domain, target)
        elif req.domain is not None:
            if target == ut:
                raise HTTPException(400, "domain filters items; the target here is users")
            _check_filters(state, req.domain, None)
        query = state.vector(req.node_type, row)
        if target == ut:
            index, item_type = state.retriever.users, None
            self_row = row if req.node_type == ut else None
        else:
            index, item_type = state.retriever.items, target
            query = state.retriever.item_query(query, from_user=req.node_type == ut)
            self_row = None if req.node_type == ut else int(state.global_row(req.node_type, [row])[0])
        exclude = np.zeros(0, np.int64) if self_row is None else np.asarray([self_row], np.int64)
        s, r = await search(index, query, req.k, exclude, req.domain if target != ut else None, item_type)
        if target == ut:
            ok = r >= 0
            raw = state.ids[ut].raw(r[ok])
            nbrs = [{"node_type": ut, "id": i, "score": x, "domain": None} for i, x in zip(raw, s[ok].tolist())]
        else:
            nbrs = _items(state, s, r)
        return JSONResponse({"node_type": req.node_type, "id": req.id, "neighbours": nbrs})

    @app.post("/cluster", response_model=ClusterResponse)
    async def cluster(req: ClusterRequest) -> ClusterResponse:
        """Cluster of each node: its nearest centroid (409 when the artifact has no centroids)."""
        state = registry.current
        rows = _rows(state, req.node_type, req.ids)
        labels = state.assign_clusters(req.node_type, rows)
        return ClusterResponse(node_type=req.node_type, ids=req.ids, clusters=labels.tolist())

    @app.post("/reload", response_model=ReloadResponse, status_code=202)
    async def reload(req: ReloadRequest) -> Any:
        """Load another embeddings artifact in the background and swap it in when valid."""
        try:
            path = registry.check_path(req.path)
        except PathRefused as exc:
            raise HTTPException(403, str(exc)) from None
        try:
            fut = registry.start_reload(path)
        except ReloadBusy as exc:
            raise HTTPException(409, str(exc)) from None
        if not req.wait:
            return ReloadResponse(status="loading", path=str(path))
        try:
            state = await asyncio.wrap_future(fut)
        except RankGraphError as exc:
            raise HTTPException(400, f"artifact refused, the previous one keeps serving: {exc}") from None
        body = ReloadResponse(status="ok", path=str(path), load_seconds=state.load_seconds)
        return JSONResponse(json.loads(body.model_dump_json()), status_code=200)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        """Request counts, latency histograms, reloads and batch sizes (Prometheus text format)."""
        state = registry.current
        text = metrics.render({"rankgraph_artifact_loaded_timestamp_seconds": state.loaded_at})
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    known = frozenset(getattr(r, "path", "") for r in app.routes)
    app.add_middleware(_BodyLimit, metrics=metrics, max_body=cfg.max_body_bytes, known_paths=known)
    return app
