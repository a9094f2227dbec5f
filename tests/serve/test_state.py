"""Id maps and seen items: raw ids to rows, and a graph's engagements onto embedding rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from serve_artifacts import SEEN, make_graph, make_set

from rankgraph.errors import ArtifactError
from rankgraph.serve.config import ServeConfig
from rankgraph.serve.state import IdMap, IdTypeError, ServiceRegistry, load_state


def test_id_map_finds_integer_ids_and_marks_unknown_ones():
    m = IdMap(pa.array([30, 10, 20]))
    assert m.rows(np.array([20, 30, 99, 10])).tolist() == [2, 0, -1, 1]


def test_id_map_finds_string_ids():
    m = IdMap(pa.array(["b", "a", "c"]))
    assert m.rows(m.coerce(["c", "zz", "b"], node_type="t")).tolist() == [2, -1, 0]
    assert m.raw([2, 0]) == ["c", "b"]


def test_id_map_refuses_a_string_for_integer_ids():
    with pytest.raises(IdTypeError, match="integer ids"):
        IdMap(pa.array([1, 2])).coerce(["1"], node_type="user")


def test_seen_items_are_matched_by_id_not_by_row(tmp_path):
    emb = make_set(0).save(tmp_path / "emb")
    graph = make_graph(reverse_user_order=True)
    state = load_state(emb, ServeConfig(embeddings=emb), graph)
    user_row = int(state.ids["user"].rows(np.array([1000]))[0])
    types, raw, _ = state.describe_items(state.seen.of(user_row))
    assert sorted(zip(types, raw), key=str) == sorted(SEEN[1000], key=str)
    other = int(state.ids["user"].rows(np.array([1001]))[0])
    assert state.seen.of(other).size == 0


def test_registry_refuses_to_start_on_a_broken_artifact(tmp_path):
    emb = make_set(0).save(tmp_path / "emb")
    (emb / "user.npy").write_bytes(b"garbage")
    with pytest.raises(ArtifactError):
        ServiceRegistry.open(ServeConfig(embeddings=emb))


def test_a_second_reload_while_one_runs_is_refused(tmp_path, monkeypatch):
    import threading

    import rankgraph.serve.state as state_mod
    from rankgraph.serve.state import ReloadBusy

    emb = make_set(0).save(tmp_path / "emb")
    registry = ServiceRegistry.open(ServeConfig(embeddings=emb))
    gate = threading.Event()
    real = state_mod.load_state

    def slow_load(*args, **kwargs):
        assert gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(state_mod, "load_state", slow_load)
    first = registry.start_reload(emb)
    with pytest.raises(ReloadBusy):
        registry.start_reload(emb)
    gate.set()
    assert first.result(timeout=10).path == emb
    registry.start_reload(emb).result(timeout=10)  # free again once the first finished
