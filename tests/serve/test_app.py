"""Endpoints of the retrieval service, each answer checked against brute force on the fixture."""

from __future__ import annotations

import numpy as np
import pytest
from serve_artifacts import POSTS, SEEN, USERS, VIDEOS, make_set

from rankgraph.serve.config import ServeConfig

EMB = make_set(0)
ITEM_VECS = np.concatenate([EMB.types["post"].vectors, EMB.types["video"].vectors])  # global rows: post, video
ITEM_KEYS = [("post", p) for p in POSTS] + [("video", v) for v in VIDEOS]


def keys(items: list[dict]) -> list[tuple[str, object]]:
    return [(it["node_type"], it["id"]) for it in items]


def brute(query: np.ndarray, k: int, skip: set = frozenset()) -> list[tuple[str, object]]:
    scores = ITEM_VECS @ query
    order = [i for i in np.argsort(-scores, kind="stable") if ITEM_KEYS[i] not in skip]
    return [ITEM_KEYS[i] for i in order[:k]]


def test_health_reports_the_loaded_artifact(client, shared_artifacts):
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["artifact"] == str(shared_artifacts["a"])


def test_info_reports_counts_index_kinds_and_manifest(client):
    body = client.get("/info").json()
    assert body["counts"] == {"user": len(USERS), "post": len(POSTS), "video": len(VIDEOS)}
    assert body["index"]["items"] == "exact" and body["index"]["users"] == "exact"
    assert body["manifest"]["kind"] == "embeddings"
    assert body["clusters"] == {"user": None, "post": 3, "video": None}
    assert body["load_seconds"] > 0


def test_openapi_schema_lists_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/info", "/recommend", "/similar", "/cluster", "/reload", "/metrics"} <= set(paths)


def test_recommend_ranks_items_by_user_dot_product(client):
    user = 1005
    r = client.post("/recommend", json={"user_id": user, "k": 7})
    assert r.status_code == 200
    items = r.json()["items"]
    assert keys(items) == brute(EMB.types["user"].vectors[USERS.index(user)], 7)
    scores = [it["score"] for it in items]
    assert scores == sorted(scores, reverse=True)


def test_recommend_leaves_out_items_seen_in_the_graph(client):
    n_items = len(ITEM_KEYS)
    items = client.post("/recommend", json={"user_id": 1000, "k": 1000}).json()["items"]
    assert len(items) == n_items - len(SEEN[1000])
    assert not set(keys(items)) & set(SEEN[1000])


def test_recommend_keeps_seen_items_when_asked(client):
    items = client.post("/recommend", json={"user_id": 1000, "k": 1000, "exclude_seen": False}).json()["items"]
    assert set(SEEN[1000]) <= set(keys(items))


def test_recommend_exclude_seen_without_a_graph_is_409(shared_artifacts):
    from fastapi.testclient import TestClient

    from rankgraph.serve.app import create_app

    with TestClient(create_app(ServeConfig(embeddings=shared_artifacts["a"]))) as c:
        r = c.post("/recommend", json={"user_id": 1000, "k": 5, "exclude_seen": True})
    assert r.status_code == 409 and "--graph" in r.json()["detail"]


def test_recommend_domain_filter_returns_only_that_domain(client):
    items = client.post("/recommend", json={"user_id": 1001, "k": 10, "domain": "feed"}).json()["items"]
    assert len(items) == 10 and {it["domain"] for it in items} == {"feed"}


def test_recommend_item_type_filter_returns_only_that_type(client):
    items = client.post("/recommend", json={"user_id": 1001, "k": 5, "item_type": "video"}).json()["items"]
    assert {it["node_type"] for it in items} == {"video"}


def test_recommend_unknown_user_is_404_naming_the_id(client):
    r = client.post("/recommend", json={"user_id": 77, "k": 5})
    assert r.status_code == 404 and "77" in r.json()["detail"]


def test_recommend_unknown_domain_is_404(client):
    r = client.post("/recommend", json={"user_id": 1000, "k": 5, "domain": "nowhere"})
    assert r.status_code == 404 and "nowhere" in r.json()["detail"]


@pytest.mark.parametrize("k", [0, 1001, -3])
def test_recommend_k_outside_1_to_1000_is_422(client, k):
    assert client.post("/recommend", json={"user_id": 1000, "k": k}).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 1000, "k": "5"},
        {"user_id": 1000.5, "k": 5},
        {"user_id": [1000], "k": 5},
        {"user_id": 1000, "k": 5, "exclude_seen": "yes"},
        {"user_id": 1000, "k": 5, "surprise": 1},
        {"k": 5},
        {"user_id": 1000, "mode": "triggers", "recent_items": [{"item_type": "post", "id": 1}]},
    ],
)
def test_recommend_invalid_body_is_422(client, body):
    assert client.post("/recommend", json=body).status_code == 422


def test_string_id_for_an_integer_id_type_is_422(client):
    r = client.post("/recommend", json={"user_id": "1000", "k": 5})
    assert r.status_code == 422 and "integer ids" in r.json()["detail"]


def test_triggers_mode_sums_weight_times_similarity_over_trigger_neighbours(shared_artifacts):
    from fastapi.testclient import TestClient

    from rankgraph.serve.app import create_app

    cfg = ServeConfig(embeddings=shared_artifacts["a"], neighbours=5, trigger_weights={"like": 3.0})
    triggers = [("post", 2, None), ("video", "v4", "like"), ("post", 9, "click")]
    with TestClient(create_app(cfg)) as c:
        body = {"mode": "triggers", "k": 8, "recent_items": [{"item_type": t, "id": i, "event": e} for t, i, e in triggers]}
        r = c.post("/recommend", json=body)
    assert r.status_code == 200
    # expected: each trigger's 5 nearest other items, summed with weights 1, 3, 1; triggers left out
    sims = ITEM_VECS @ ITEM_VECS.T
    total = np.zeros(len(ITEM_KEYS))
    for (t, i, e), w in zip(triggers, [1.0, 3.0, 1.0]):
        row = ITEM_KEYS.index((t, i))
        s = sims[row].copy()
        s[row] = -np.inf
        nbrs = np.argsort(-s, kind="stable")[:5]
        total[nbrs] += w * sims[row, nbrs]
    trig_rows = [ITEM_KEYS.index((t, i)) for t, i, _ in triggers]
    cand = [j for j in np.argsort(-total, kind="stable") if total[j] != 0 and j not in trig_rows][:8]
    got = r.json()["items"]
    assert keys(got) == [ITEM_KEYS[j] for j in cand]
    np.testing.assert_allclose([it["score"] for it in got], total[cand], rtol=1e-5)


def test_triggers_mode_unknown_trigger_is_404_naming_it(client):
    body = {"mode": "triggers", "k": 5, "recent_items": [{"item_type": "video", "id": "v999"}]}
    r = client.post("/recommend", json=body)
    assert r.status_code == 404 and "v999" in r.json()["detail"]


def test_similar_items_exclude_the_item_itself(client):
    r = client.post("/similar", json={"node_type": "post", "id": 3, "k": 6})
    assert r.status_code == 200
    assert keys(r.json()["neighbours"]) == brute(EMB.types["post"].vectors[3], 6, skip={("post", 3)})


def test_similar_users_are_users_without_the_user_itself(client):
    nbrs = client.post("/similar", json={"node_type": "user", "id": 1002, "k": 4}).json()["neighbours"]
    u = EMB.types["user"].vectors
    s = u @ u[2]
    s[2] = -np.inf
    assert [n["id"] for n in nbrs] == [USERS[i] for i in np.argsort(-s, kind="stable")[:4]]


def test_similar_target_type_restricts_neighbours(client):
    nbrs = client.post("/similar", json={"node_type": "post", "id": 3, "k": 5, "target_type": "video"}).json()["neighbours"]
    assert len(nbrs) == 5 and {n["node_type"] for n in nbrs} == {"video"}


def test_similar_unknown_id_is_404(client):
    r = client.post("/similar", json={"node_type": "video", "id": "nope", "k": 5})
    assert r.status_code == 404 and "nope" in r.json()["detail"]


def test_similar_unknown_node_type_is_404(client):
    assert client.post("/similar", json={"node_type": "shop", "id": 1, "k": 5}).status_code == 404


def test_cluster_assigns_the_nearest_centroid(client):
    r = client.post("/cluster", json={"node_type": "post", "ids": [0, 5, 17]})
    assert r.status_code == 200
    node = EMB.types["post"]
    expected = np.argmax(node.vectors[[0, 5, 17]] @ node.centroids.T, axis=1)
    assert r.json()["clusters"] == expected.tolist()


def test_cluster_without_centroids_is_409(client):
    r = client.post("/cluster", json={"node_type": "video", "ids": ["v1"]})
    assert r.status_code == 409 and "centroids" in r.json()["detail"]


@pytest.mark.parametrize("ids", [[], list(range(1001))])
def test_cluster_ids_list_outside_bounds_is_422(client, ids):
    assert client.post("/cluster", json={"node_type": "post", "ids": ids}).status_code == 422


def test_body_over_the_limit_is_413(client):
    body = b'{"node_type": "post", "ids": [' + b"1," * 600_000 + b"1]}"
    assert client.post("/cluster", content=body, headers={"content-type": "application/json"}).status_code == 413


def test_metrics_count_requests_per_endpoint_and_status(fresh_client):
    fresh_client.post("/recommend", json={"user_id": 1000, "k": 5})
    fresh_client.post("/recommend", json={"user_id": 1000, "k": 5})
    fresh_client.post("/recommend", json={"user_id": 1, "k": 5})
    text = fresh_client.get("/metrics").text
    assert 'rankgraph_requests_total{endpoint="/recommend",method="POST",status="200"} 2' in text
    assert 'rankgraph_requests_total{endpoint="/recommend",method="POST",status="404"} 1' in text
    assert 'rankgraph_request_seconds_count{endpoint="/recommend"} 3' in text


@pytest.mark.parametrize("batching", [True, False])
def test_concurrent_requests_are_answered_like_brute_force(shared_artifacts, batching):
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from rankgraph.serve.app import create_app

    cfg = ServeConfig(embeddings=shared_artifacts["a"], graph=shared_artifacts["graph"], batching=batching, batch_window_ms=20)
    users = USERS[:12]
    with TestClient(create_app(cfg)) as c, ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda u: c.post("/recommend", json={"user_id": u, "k": 5 + u % 4}).json()["items"], users))
        text = c.get("/metrics").text
    for u, items in zip(users, got):
        skip = set(SEEN.get(u, []))
        assert keys(items) == brute(EMB.types["user"].vectors[USERS.index(u)], 5 + u % 4, skip)
    assert f"rankgraph_search_batch_size_sum {12 if batching else 0}" in text  # every search, or none, batched


def test_recommend_and_similar_use_the_artifacts_popularity_readout(tmp_path):
    from fastapi.testclient import TestClient
    from serve_artifacts import make_set as make

    from rankgraph.serve.app import create_app

    def open_client(cfg: ServeConfig) -> TestClient:
        return TestClient(create_app(cfg))

    rng = np.random.default_rng(5)
    log_q = {"post": np.log(rng.dirichlet(np.ones(len(POSTS)))).astype(np.float32),
             "video": np.log(rng.dirichlet(np.ones(len(VIDEOS)))).astype(np.float32)}
    emb = make(0).with_log_popularity(log_q)
    emb.meta["popularity_readout"] = {"users": 0.8, "items": 2.0, "temperature": 0.5}
    path = emb.save(tmp_path / "emb_readout")
    lq = np.concatenate([log_q["post"], log_q["video"]])

    def ranked(query: np.ndarray, beta: float, k: int, skip: set = frozenset()) -> list[tuple[str, object]]:
        scores = ITEM_VECS @ query / 0.5 + beta * lq
        order = [i for i in np.argsort(-scores, kind="stable") if ITEM_KEYS[i] not in skip]
        return [ITEM_KEYS[i] for i in order[:k]]

    user_vec = EMB.types["user"].vectors[USERS.index(1007)]
    post_vec = EMB.types["post"].vectors[POSTS.index(5)]
    with open_client(ServeConfig(embeddings=path)) as c:
        got = keys(c.post("/recommend", json={"user_id": 1007, "k": 6}).json()["items"])
        assert got == ranked(user_vec, 0.8, 6)
        got = keys(c.post("/similar", json={"node_type": "post", "id": 5, "k": 6}).json()["neighbours"])
        assert got == ranked(post_vec, 2.0, 6, {("post", 5)})
        # triggers mode sums each trigger's neighbour scores on the probability scale, as
        # evaluation does: exp(cos / tau + beta log q - 1 / tau)
        trig = [("post", 5), ("post", 7)]
        body = {"mode": "triggers", "k": 4, "recent_items": [{"item_type": t, "id": i} for t, i in trig]}
        r = c.post("/recommend", json=body).json()["items"]
        total = np.zeros(len(ITEM_KEYS))
        for key in trig:
            row = ITEM_KEYS.index(key)
            score = ITEM_VECS @ ITEM_VECS[row] / 0.5 + 2.0 * lq
            score[row] = -np.inf
            nbrs = np.argsort(-score, kind="stable")[: ServeConfig(embeddings=path).neighbours]
            total[nbrs] += np.exp(score[nbrs] - 2.0)
        cand = [j for j in np.argsort(-total, kind="stable") if total[j] > 0 and ITEM_KEYS[j] not in trig][:4]
        assert keys(r) == [ITEM_KEYS[j] for j in cand]
        np.testing.assert_allclose([it["score"] for it in r], total[cand], rtol=1e-4)
    with open_client(ServeConfig(embeddings=path, popularity_readout=0.0)) as c:
        assert keys(c.post("/recommend", json={"user_id": 1007, "k": 6}).json()["items"]) == brute(user_vec, 6)
