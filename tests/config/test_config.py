from __future__ import annotations

from pathlib import Path

import pytest

from rankgraph.config import ConfigError, RankGraphConfig, load_config, to_dict
from rankgraph.config.root import config_from_dict


def test_defaults_load_without_a_file() -> None:
    cfg = load_config(None)
    assert isinstance(cfg, RankGraphConfig)
    assert cfg.model.dim == 64


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("model:\n  dimm: 32\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "model.dimm" in str(err.value)
    assert str(path) in str(err.value)


def test_wrong_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("train:\n  lr: fast\n")
    with pytest.raises(ConfigError, match="train.lr"):
        load_config(path)


def test_literal_field_rejects_unknown_choice() -> None:
    with pytest.raises(ConfigError, match="model.norm"):
        config_from_dict({"model": {"norm": "max"}})


def test_cli_override_wins_over_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("train:\n  lr: 0.5\n")
    cfg = load_config(path, ["train.lr=0.01", "model.fanouts=[5, 3]"])
    assert cfg.train.lr == 0.01
    assert cfg.model.fanouts == [5, 3]


def test_relative_data_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("data:\n  events: [events.parquet]\n")
    cfg = load_config(path)
    assert cfg.data.events == [str(tmp_path / "events.parquet")]


def test_round_trip_through_dict() -> None:
    cfg = load_config(None, ["graph.engagement=[{name: engaged, item_types: [post], events: {click: 1, like: 2}}]"])
    again = config_from_dict(to_dict(cfg))
    assert again == cfg
    assert again.graph.engagement[0].events == {"click": 1.0, "like": 2.0}


def test_exponent_floats_without_a_dot_are_numbers(tmp_path: Path) -> None:
    # YAML 1.1 reads 3e-3 as a string; a float field takes it as the number a user meant
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 1e-2\n")
    assert load_config(path).train.lr == 0.01
    assert load_config(path, ["train.lr=3e-3"]).train.lr == 0.003
    with pytest.raises(ConfigError, match="train.lr"):
        load_config(path, ["train.lr=fast"])
    with pytest.raises(ConfigError, match="train.lr"):
        load_config(path, ["train.lr=nan"])
