"""Hot reload: good artifacts swap in, broken or out-of-root ones are refused, requests never fail."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
from fastapi.testclient import TestClient
from serve_artifacts import make_set

from rankgraph.serve.app import create_app
from rankgraph.serve.config import ServeConfig


def corrupt_copy(src, dst):
    shutil.copytree(src, dst)
    data = bytearray((dst / "post.npy").read_bytes())
    data[-4:] = b"\x00\x00\xc0\x7f"  # last float becomes NaN: checksum and values both wrong
    (dst / "post.npy").write_bytes(bytes(data))
    return dst


def test_reload_of_a_good_artifact_swaps_it_in(fresh_client, artifacts):
    before = fresh_client.post("/similar", json={"node_type": "post", "id": 3, "k": 3}).json()
    r = fresh_client.post("/reload", json={"path": str(artifacts["b"]), "wait": True})
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert fresh_client.get("/info").json()["artifact"] == str(artifacts["b"])
    after = fresh_client.post("/similar", json={"node_type": "post", "id": 3, "k": 3}).json()
    assert after != before


def test_reload_without_wait_answers_202_and_swaps_in_the_background(fresh_client, artifacts):
    r = fresh_client.post("/reload", json={"path": str(artifacts["b"])})
    assert r.status_code == 202 and r.json()["status"] == "loading"
    deadline = time.time() + 10
    while fresh_client.get("/info").json()["artifact"] != str(artifacts["b"]) and time.time() < deadline:
        time.sleep(0.02)
    assert fresh_client.get("/info").json()["last_reload"]["status"] == "ok"


def test_reload_of_a_corrupt_artifact_is_refused_and_the_old_one_keeps_serving(fresh_client, artifacts):
    bad = corrupt_copy(artifacts["a"], artifacts["root"] / "emb_bad")
    before = fresh_client.post("/recommend", json={"user_id": 1003, "k": 5}).json()
    r = fresh_client.post("/reload", json={"path": str(bad), "wait": True})
    assert r.status_code == 400 and "post.npy" in r.json()["detail"]
    info = fresh_client.get("/info").json()
    assert info["artifact"] == str(artifacts["a"]) and info["last_reload"]["status"] == "refused"
    assert fresh_client.post("/recommend", json={"user_id": 1003, "k": 5}).json() == before
    assert 'rankgraph_reloads_total{result="refused"} 1' in fresh_client.get("/metrics").text


def test_reload_of_a_missing_directory_is_refused(fresh_client, artifacts):
    r = fresh_client.post("/reload", json={"path": str(artifacts["root"] / "nothing"), "wait": True})
    assert r.status_code == 400 and fresh_client.get("/info").json()["artifact"] == str(artifacts["a"])


def test_reload_outside_the_allowed_root_is_403(fresh_client, artifacts):
    r = fresh_client.post("/reload", json={"path": str(artifacts["outside"]), "wait": True})
    assert r.status_code == 403 and "outside the allowed root" in r.json()["detail"]


def test_reload_path_with_dotdot_is_403(fresh_client, artifacts):
    sneaky = f"{artifacts['root']}/../outside/emb"
    assert fresh_client.post("/reload", json={"path": sneaky, "wait": True}).status_code == 403


def test_reload_through_a_symlink_leaving_the_root_is_403(fresh_client, artifacts):
    link = artifacts["root"] / "link"
    link.symlink_to(artifacts["outside"], target_is_directory=True)
    assert fresh_client.post("/reload", json={"path": str(link), "wait": True}).status_code == 403


def test_requests_during_reloads_never_fail(fresh_client, artifacts):
    errors: list[str] = []
    stop = threading.Event()

    def hammer(user: int) -> None:
        while not stop.is_set():
            r = fresh_client.post("/recommend", json={"user_id": user, "k": 10})
            if r.status_code != 200 or len(r.json()["items"]) != 10:
                errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=hammer, args=(1000 + i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            target = artifacts["b"] if i % 2 == 0 else artifacts["a"]
            assert fresh_client.post("/reload", json={"path": str(target), "wait": True}).status_code == 200
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert fresh_client.get("/info").json()["last_reload"]["status"] == "ok"


def test_watcher_reloads_when_the_manifest_changes(artifacts):
    cfg = ServeConfig(embeddings=artifacts["a"], allowed_root=artifacts["root"], watch_interval_s=0.05)
    with TestClient(create_app(cfg)) as c:
        first = c.get("/info").json()["loaded_at"]
        make_set(5).save(artifacts["a"])  # atomic rewrite in place, as `rankgraph embed` does
        deadline = time.time() + 10
        while c.get("/info").json()["loaded_at"] == first and time.time() < deadline:
            time.sleep(0.05)
        info = c.get("/info").json()
    assert info["loaded_at"] != first and info["manifest"]["source"] == {"seed": 5}
    np.testing.assert_equal(info["last_reload"]["status"], "ok")
