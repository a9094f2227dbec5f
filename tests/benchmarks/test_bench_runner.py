"""The benchmark runner (`python -m benchmarks`): registry, dispatch, failure isolation."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def runner():
    """benchmarks/__main__.py loaded by path (the tests/ tree must not shadow the package name)."""
    spec = importlib.util.spec_from_file_location(
        "rankgraph_benchmarks_runner", BENCH_DIR / "__main__.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def test_every_bench_script_is_registered_for_every_size(runner):
    scripts = {p.name for p in BENCH_DIR.glob("bench_*.py")}
    benches = runner.registry().values()
    assert scripts == {b.script for b in benches}
    for b in benches:
        assert set(b.args) == set(runner.SIZES), b.name


def test_tiny_generate_runs_and_its_figures_are_parsed(runner, tmp_path):
    out = tmp_path / "bench.json"
    rc = runner.main(
        ["--size", "tiny", "--only", "generate", "--json", str(out), "--work", str(tmp_path / "w")]
    )
    row = json.loads(out.read_text())["rows"][0]
    assert rc == 0 and row["name"] == "generate" and row["status"] == "ok"
    assert "events/s" in row["figure"] and row["reference"].endswith("Parquet write")
    assert row["ratio"] > 0 and row["peak_rss_mib"] > 0


def test_a_crashing_benchmark_is_recorded_and_the_next_one_still_runs(
    runner, tmp_path, monkeypatch
):
    crash = _script(
        tmp_path, "crash.py", "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n"
    )
    ok = _script(tmp_path, "ok.py", "print('value 2.5 s')\n")
    parse = lambda out: runner._row(out.split()[1], "ref", 1.0)
    fake = {
        "crash": runner.Bench("crash", crash, {s: [] for s in runner.SIZES}, parse),
        "ok": runner.Bench("ok", ok, {s: [] for s in runner.SIZES}, parse),
    }
    monkeypatch.setattr(runner, "registry", lambda: fake)
    out = tmp_path / "bench.json"
    rc = runner.main(["--size", "tiny", "--json", str(out), "--work", str(tmp_path)])
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    assert rc == 1
    assert rows["crash"]["status"] == "failed (rc 3)" and "boom" in rows["crash"]["stderr_tail"]
    assert rows["ok"]["status"] == "ok" and rows["ok"]["figure"] == "2.5"


def test_a_benchmark_past_its_timeout_is_killed_and_marked(runner, tmp_path):
    slow = _script(tmp_path, "slow.py", "import time\ntime.sleep(60)\n")
    bench = runner.Bench(
        "slow", slow, {s: [] for s in runner.SIZES}, lambda out: runner._row(None, None, None)
    )
    row = runner.run_bench(bench, "tiny", tmp_path, timeout_s=1.0)
    assert row["status"] == "timeout" and row["wall_s"] < 30


def test_size_maps_to_the_scripts_own_flags(runner, tmp_path):
    cmd = runner.registry()["index"].command("small", tmp_path)
    assert cmd[1].endswith("bench_index.py") and cmd[cmd.index("--n") + 1] == "20000"


def test_unknown_benchmark_name_is_refused(runner):
    with pytest.raises(SystemExit):
        runner.main(["--only", "no_such_bench", "--list"])


def test_missing_shared_data_skips_instead_of_failing(runner, tmp_path):
    bench = runner.Bench(
        "needs",
        "bench_index.py",
        {s: [] for s in runner.SIZES},
        runner.parse_index,
        needs=tmp_path / "absent",
    )
    assert runner.run_bench(bench, "tiny", tmp_path)["status"] == "skipped"


def test_build_table_is_parsed_into_figure_and_ratio(runner):
    out = (
        "| events | case | wall s | CPU s | events/s (wall) | peak RSS (MB) | wall speed vs pandas |\n"
        "|---:|---|---:|---:|---:|---:|---:|\n"
        "| 1,000 | engagement | 2.0 | 1.5 | 500 | 300 | 1.50x |\n"
        "| 1,000 | pandas | 3.0 | 2.9 | 333 | 250 | 1.00x |\n"
    )
    row = runner.parse_build(out)
    assert (
        row["ratio"] == 1.5
        and row["figure"].startswith("2.0 s")
        and row["reference"].startswith("3.0 s")
    )
