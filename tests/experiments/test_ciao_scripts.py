"""experiments/ciao: the scripts behind docs/results.md reproduce `rankgraph run` on a tiny crawl."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pyarrow.parquet as pq
import pytest
import yaml

from rankgraph.data.split import SECONDS_PER_YEAR, parse_cut
from rankgraph.evaluate.compare import headline
from rankgraph.pipeline import RunOptions, run_pipeline

SCRIPTS = Path(__file__).resolve().parents[2] / "experiments" / "ciao"
FAST = [
    "train.steps=6",
    "train.eval_every=3",
    "train.batch_size=256",
    "model.dim=16",
    "model.num_layers=1",
]


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ciao_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tang_run(tmp_path: Path, tiny_tang_crawl: Path) -> Path:
    out = tmp_path / "run"
    run_pipeline(
        RunOptions(
            out=out,
            dataset="tang",
            path=tiny_tang_crawl,
            overrides=FAST,
            baselines=["popularity", "als"],
            report=False,
        )
    )
    return out


def rounded(figures: dict) -> dict:
    return {k: None if v is None else round(v, 4) for k, v in figures.items()}


def test_scripts_reproduce_the_run_and_score_an_ensemble(
    tang_run: Path, tmp_path: Path, capsys
) -> None:
    results = tmp_path / "results.jsonl"
    fast = [a for o in FAST for a in ("--set", o)]
    score = script("score_models")
    score.main(
        [str(tang_run), "run_model", f"{tang_run / 'model'}:0", "--results", str(results), *fast]
    )
    score.main(
        [
            str(tang_run),
            "pair",
            f"{tang_run / 'model'}:0",
            f"{tmp_path / 's1'}:1",
            "--results",
            str(results),
            *fast,
        ]
    )
    rows = {r["tag"]: r for r in map(json.loads, results.read_text().splitlines())}
    run = json.loads((tang_run / "metrics.json").read_text())
    expected = rounded(headline(run["methods"]["rankgraph"], 100))
    assert {k: rows["run_model"][k] for k in expected} == expected  # the run's own figures
    tuned = run["methods"]["rankgraph"]["training"]["popularity_readout"]
    assert rows["run_model"]["readout"] == {
        k: tuned[k] for k in ("users", "items", "recent_fraction")
    }
    assert (tmp_path / "s1" / "checkpoints").is_dir() and rows["pair"]["models"][1].endswith("s1:1")

    capsys.readouterr()
    script("summarize").main([str(tang_run), str(results), "both=run_model,pair"])
    printed = capsys.readouterr().out
    assert "both (2 runs)" in printed and "margin" in printed
    with pytest.raises(SystemExit, match="no row tagged nope"):
        script("summarize").main([str(tang_run), str(results), "x=nope"])
    # baselines from another metrics file (re-tuned under other overrides) replace the run's
    retuned = json.loads(json.dumps(run))
    retuned["methods"]["als"]["user_item"]["all"]["recall@100"] = 0.9
    (tmp_path / "retuned.json").write_text(json.dumps(retuned))
    args = [str(tang_run), str(results), "both=run_model,pair"]
    script("summarize").main([*args, "--baselines", str(tmp_path / "retuned.json")])
    printed = capsys.readouterr().out
    assert "R@100 0.9000" in printed and "R@100 0.9000" not in script_output(args, capsys)
    run["methods"].pop("als")
    (tmp_path / "popularity_only").mkdir()
    (tmp_path / "popularity_only" / "metrics.json").write_text(json.dumps(run))
    with pytest.raises(SystemExit, match="neither ALS nor LightGCN"):
        script("summarize").main(
            [str(tmp_path / "popularity_only"), str(results), "both=run_model,pair"]
        )


def script_output(argv: list[str], capsys) -> str:
    """What `summarize.py argv` prints."""
    capsys.readouterr()
    script("summarize").main(argv)
    return capsys.readouterr().out


def test_readout_analyses_at_zero_reproduce_the_tuned_readout(tang_run: Path, capsys) -> None:
    run = json.loads((tang_run / "metrics.json").read_text())
    tuned = run["methods"]["rankgraph"]["training"]["popularity_readout"]
    expected = rounded(headline(run["methods"]["rankgraph"], 100))

    capsys.readouterr()
    script("domain_offset").main([str(tang_run), "--user-deltas", "0", "--item-deltas", "0"])
    user, item = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (user["R@100"], user["R@100 xd"]) == (expected["R@100"], expected["R@100 xd"])
    assert (item["ER@100"], item["ER@100 xd"]) == (expected["ER@100"], expected["ER@100 xd"])

    script("readout_horizon").main(
        [str(tang_run), f"{tang_run / 'model'}:0", *[a for o in FAST for a in ("--set", o)]]
    )
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    at_zero = next(line for line in lines if line["tuned on"] == "lag 0 days")
    assert at_zero["readout"] == {k: tuned[k] for k in ("users", "items", "recent_fraction")}
    assert {k: at_zero[k] for k in expected} == expected
    assert any(line["tuned on"] == "mean over lags" for line in lines)


def test_validation_year_keeps_events_before_the_cut_and_moves_it_back_a_year(
    tang_run: Path, tmp_path: Path
) -> None:
    source = tang_run / "data"
    config = yaml.safe_load((source / "rankgraph.yaml").read_text())
    cut = parse_cut(config["graph"]["train_until"])
    script("validation_year").main([str(source), str(tmp_path / "val")])
    moved = yaml.safe_load((tmp_path / "val" / "rankgraph.yaml").read_text())
    assert parse_cut(moved["graph"]["train_until"]) == cut - SECONDS_PER_YEAR
    events, kept = (
        pq.read_table(source / "events.parquet"),
        pq.read_table(tmp_path / "val" / "events.parquet"),
    )
    ts = kept.column("ts").to_numpy()
    assert ts.max() < cut and kept.num_rows == int((events.column("ts").to_numpy() < cut).sum())
    assert moved["data"] == config["data"] and moved["train"] == config["train"]


def test_validation_year_refuses_data_without_a_dated_cut(tmp_path: Path) -> None:
    (tmp_path / "rankgraph.yaml").write_text(
        yaml.safe_dump({"data": {"time_unit": "period"}, "graph": {}})
    )
    with pytest.raises(SystemExit, match="graph.train_until"):
        script("validation_year").main([str(tmp_path), str(tmp_path / "out")])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
