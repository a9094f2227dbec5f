"""Run the project's benchmarks: `python -m benchmarks [--size S] [--only A,B] [--json OUT]`.

Every benchmark script runs in its own subprocess (a crash, a timeout or an OOM kill in
one is recorded and the suite goes on), with the arguments its size maps to. The runner
reads the script's own printed figures (each script measures a reference in the same run)
into one row: name, figure, reference, ratio, plus wall seconds and the child's peak RSS
(`ru_maxrss` from `os.wait4`). The table is printed; `--json` writes every row with the
command, return code and the tail of the output.

Sizes: `tiny` (seconds; used by the tests), `small` (`make bench`, minutes), `medium`
(~10M events/edges), `large` (~100M; hours on 2 cores, run one benchmark at a time).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scripts' own import style
from common import REPO, child_env, load_note, parse_result, run_child

SIZES = ("tiny", "small", "medium", "large")
BENCH_DIR = Path(__file__).resolve().parent
SHARED_CIAO = REPO.parent / "shared" / "data" / "ciao"

Row = dict[str, Any]
Parser = Callable[[str], Row]


def _num(pattern: str, text: str, default: float | None = None) -> float | None:
    """The first number captured by `pattern` in `text` (commas dropped), else `default`."""
    m = re.search(pattern, text, flags=re.MULTILINE)
    return float(m.group(1).replace(",", "")) if m else default


def _row(figure: str | None, reference: str | None, ratio: float | None, **extra: Any) -> Row:
    return {"figure": figure, "reference": reference, "ratio": ratio, **extra}


def parse_generate(out: str) -> Row:
    s = _num(r"generate_world: ([\d.]+) s", out)
    eps = _num(r"\), ([\d,]+) events/s", out)
    ref = _num(r"reference \(write[^:]*: ([\d.]+) s", out)
    ratio = _num(r"ratio generate / reference write: ([\d.]+)x", out)
    return _row(
        None if s is None else f"{s:.2f} s ({eps or 0:,.0f} events/s)",
        None if ref is None else f"{ref:.2f} s Parquet write",
        ratio,
        ratio_means="generate / write (lower is better)",
    )


def parse_events(out: str) -> Row:
    s = _num(r"open_events \(read\+validate[^:]*: ([\d.]+) s", out)
    ref = _num(r"pandas reference[^:]*: ([\d.]+) s", out)
    ratio = _num(r"ratio pandas/rankgraph: ([\d.]+)x", out)
    return _row(
        None if s is None else f"{s:.2f} s",
        None if ref is None else f"{ref:.2f} s pandas",
        ratio,
        ratio_means="pandas / ours (higher is better)",
    )


def parse_build(out: str) -> Row:
    rows = re.findall(
        r"^\| ([\d,]+) \| (\w+) \| ([\d.]+) \| ([\d.]+) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+)x \|$",
        out,
        re.MULTILINE,
    )
    by = {r[1]: r for r in rows}  # (events, case, wall s, CPU s, events/s, peak MB, ratio)
    eng, pd_ = by.get("engagement"), by.get("pandas")
    return _row(
        None if eng is None else f"{float(eng[2]):.1f} s, {eng[5]} MB peak ({eng[0]} events)",
        None if pd_ is None else f"{float(pd_[2]):.1f} s pandas, {pd_[5]} MB",
        None if eng is None or pd_ is None else float(eng[6]),
        ratio_means="pandas / ours (higher is better)",
    )


def parse_layer(out: str) -> Row:
    ours = _num(r"^ours, GraphConv-equivalent[^:]*: ([\d.]+) s", out)
    pyg = _num(r"^PyG HeteroConv[^:]*: ([\d.]+) s", out)
    ratio = _num(r"speed-up ours \(GraphConv-equivalent\) vs PyG: ([\d.]+)x", out)
    return _row(
        None if ours is None else f"{ours:.3f} s fwd+bwd",
        None if pyg is None else f"{pyg:.3f} s PyG",
        ratio,
        ratio_means="PyG / ours (higher is better)",
    )


def parse_sampler(out: str) -> Row:
    ours = _num(r"ours \(uniform\): ([\d.]+) ms/batch", out)
    ref = _num(r"reference \(Python loop, uniform\): ([\d.]+) ms/batch", out)
    ratio = _num(r"speed-up ours \(uniform\) vs Python loop: ([\d.]+)x", out)
    return _row(
        None if ours is None else f"{ours:.1f} ms/batch",
        None if ref is None else f"{ref:.1f} ms Python loop",
        ratio,
        ratio_means="loop / ours (higher is better)",
    )


def parse_inference(out: str) -> Row:
    pat = r"^{}: [\d,]+ nodes in ([\d.]+) s .*?peak RSS ([\d,]+) MiB"
    m_lw, m_full = (
        re.search(pat.format("layerwise"), out, re.MULTILINE),
        re.search(pat.format("full"), out, re.MULTILINE),
    )
    lw = float(m_lw.group(1)) if m_lw else None
    full = float(m_full.group(1)) if m_full else None
    return _row(
        None if m_lw is None else f"{lw:.1f} s, {m_lw.group(2)} MiB peak",
        None if m_full is None else f"{full:.1f} s, {m_full.group(2)} MiB peak forward_full",
        None if lw is None or full is None else round(full / lw, 2),
        ratio_means="full / layer-wise time",
    )


def parse_train(out: str) -> Row:
    m = re.search(
        r"== synthetic:.*?full-graph : +([\d,]+) pairs/s.*?mini-batch : +([\d,]+) pairs/s.*?ratio mini/full = ([\d.]+)",
        out,
        re.DOTALL,
    )
    if not m:
        return _row(None, None, None)
    return _row(
        f"{m.group(2)} pairs/s mini-batch",
        f"{m.group(1)} pairs/s full-graph",
        float(m.group(3)),
        ratio_means="mini-batch / full-graph throughput",
    )


def parse_index(out: str) -> Row:
    exact = re.search(
        r"^exact \(IndexFlatIP\) +build +[\d.]+ s +query +([\d.]+) s", out, re.MULTILINE
    )
    ivf = re.search(
        r"^ivf nlist=\d+ nprobe=16 +build +([\d.]+) s +query +([\d.]+) s \(\s*([\d.]+)x exact\)"
        r".*?recall@100 ([\d.]+)",
        out,
        re.MULTILINE,
    )
    return _row(
        None if ivf is None else f"IVF {ivf.group(2)} s query, recall@100 {ivf.group(4)}",
        None if exact is None else f"{exact.group(1)} s exact query",
        None if ivf is None else float(ivf.group(3)),
        ratio_means="IVF / exact query time (lower is better)",
    )


def parse_serve(out: str) -> Row:
    rows = re.findall(
        r"^\| (\w+) \| (\d+) \| \d+ \| (\d+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \|", out, re.MULTILINE
    )
    ref = _num(r"in-process search [^:]*: p50 ([\d.]+) ms", out)
    best = max(rows, key=lambda r: float(r[2])) if rows else None
    if best is None:
        return _row(None, None if ref is None else f"{ref:.2f} ms in-process p50", None)
    ratio = None if not ref else round(float(best[2]) / (1000.0 / ref), 3)
    return _row(
        f"{best[2]} req/s ({best[0]}, concurrency {best[1]}, p50 {best[3]} ms, errors {best[5]})",
        None if ref is None else f"{ref:.2f} ms in-process p50 ({1000 / ref:,.0f} q/s)",
        ratio,
        ratio_means="HTTP req/s / in-process searches/s",
    )


def parse_baselines(out: str) -> Row:
    er = dict(re.findall(r"^(\w+) +ER@20 ([\d.]+)", out, re.MULTILINE))
    best = max((k for k in er if k != "random"), key=lambda k: float(er[k]), default=None)
    if best is None:
        return _row(None, None, None)
    rnd = float(er["random"]) if "random" in er else None
    return _row(
        f"{best} ER@20 {er[best]}",
        None if rnd is None else f"random ER@20 {rnd:.4f}",
        None if not rnd else round(float(er[best]) / rnd, 1),
        ratio_means="best baseline / random ER@20",
    )


def parse_engagement_recall(out: str) -> Row:
    ours = _num(r"trigger items ([\d.]+) s, every item \(reference\)", out)
    ref = _num(r"every item \(reference\) ([\d.]+) s", out)
    return _row(
        None if ours is None else f"{ours:.2f} s per Engagement Recall eval",
        None if ref is None else f"{ref:.2f} s searching every item",
        _num(r"-> ([\d.]+)x faster", out),
        identical="identical metrics: True" in out,
    )


def parse_scaling(out: str) -> Row:
    res = parse_result(out) or {}
    rows = res.get("rows", [])
    if not rows:
        return _row(None, None, None)
    big = max(rows, key=lambda r: r.get("edges", 0))
    total = sum(s.get("wall_s", 0.0) for s in big.get("stages", {}).values())
    peak = max((s.get("peak_rss_mib", 0.0) for s in big.get("stages", {}).values()), default=0.0)
    floor = big.get("csr_bytes", 0) / 2**20
    return _row(
        f"{big.get('edges', 0):,} edges: {total:.0f} s all stages, {peak:,.0f} MiB peak",
        f"{floor:,.0f} MiB CSR arrays",
        None if not floor else round(peak / floor, 2),
        ratio_means="peak RSS / CSR bytes (memory floor)",
    )


@dataclass(frozen=True)
class Bench:
    """One benchmark script and how each size maps to its flags."""

    name: str
    script: str
    args: dict[str, list[str]]
    parse: Parser
    timeout_s: dict[str, float] = field(
        default_factory=lambda: {"tiny": 300, "small": 1800, "medium": 7200, "large": 43200}
    )
    needs: Path | None = None  # skipped when this path is absent (shared data)

    def command(self, size: str, work: Path) -> list[str]:
        args = [a.replace("{work}", str(work)) for a in self.args[size]]
        return [sys.executable, str(BENCH_DIR / self.script), *args]


def registry() -> dict[str, Bench]:
    """Every benchmark of the project, in run order. Sizes are the scripts' own flags."""
    b = [
        Bench(
            "generate",
            "bench_generate.py",
            {
                "tiny": ["--users", "300", "--repeat", "1"],
                "small": ["--users", "16000", "--repeat", "3"],
                "medium": ["--users", "160000", "--repeat", "1"],
                "large": ["--users", "1600000", "--repeat", "1"],
            },
            parse_generate,
        ),
        Bench(
            "events",
            "bench_events.py",
            {
                "tiny": ["--rows", "20000"],
                "small": ["--rows", "1000000"],
                "medium": ["--rows", "10000000"],
                "large": ["--rows", "100000000"],
            },
            parse_events,
        ),
        Bench(
            "build",
            "bench_build.py",
            {
                "tiny": [
                    "--events",
                    "20000",
                    "--cases",
                    "engagement",
                    "pandas",
                    "--work",
                    "{work}/build",
                ],
                "small": [
                    "--events",
                    "1000000",
                    "--cases",
                    "engagement",
                    "pandas",
                    "--work",
                    "{work}/build",
                ],
                "medium": [
                    "--events",
                    "10000000",
                    "--cases",
                    "engagement",
                    "pandas",
                    "items",
                    "--work",
                    "{work}/build",
                ],
                "large": [
                    "--events",
                    "100000000",
                    "--cases",
                    "engagement",
                    "pandas",
                    "--work",
                    "{work}/build",
                ],
            },
            parse_build,
        ),
        Bench(
            "layer",
            "bench_layer.py",
            {
                "tiny": ["--scale", "0.002", "--repeat", "1"],
                "small": ["--scale", "0.1", "--repeat", "2"],
                "medium": ["--scale", "1.0", "--repeat", "3"],
                "large": ["--scale", "4.0", "--repeat", "1"],
            },
            parse_layer,
        ),
        Bench(
            "sampler",
            "bench_sampler.py",
            {
                "tiny": [
                    "--scale",
                    "0.002",
                    "--batch",
                    "64",
                    "--batches",
                    "2",
                    "--ref-batches",
                    "1",
                ],
                "small": ["--scale", "0.1", "--batches", "10", "--ref-batches", "2"],
                "medium": ["--scale", "1.0", "--batches", "20", "--ref-batches", "2"],
                "large": [
                    "--scale",
                    "4.0",
                    "--batch",
                    "8192",
                    "--batches",
                    "10",
                    "--ref-batches",
                    "1",
                ],
            },
            parse_sampler,
        ),
        Bench(
            "inference",
            "bench_inference.py",
            {
                "tiny": ["--scale", "0.002", "--chunk", "512"],
                "small": ["--scale", "0.1"],
                "medium": ["--scale", "1.0"],
                "large": ["--scale", "4.0"],
            },
            parse_inference,
        ),
        Bench(
            "train",
            "bench_train.py",
            {
                "tiny": ["--users", "300", "--steps", "2", "--skip-ddp", "--work", "{work}/train"],
                "small": [
                    "--users",
                    "2000",
                    "--steps",
                    "5",
                    "--skip-ddp",
                    "--work",
                    "{work}/train",
                ],
                "medium": ["--users", "16000", "--steps", "10", "--work", "{work}/train"],
                "large": ["--users", "160000", "--steps", "10", "--work", "{work}/train"],
            },
            parse_train,
        ),
        Bench(
            "index",
            "bench_index.py",
            {
                "tiny": ["--n", "2000", "--queries", "50"],
                "small": ["--n", "20000", "--queries", "200"],
                "medium": ["--n", "100000", "--queries", "1000"],
                "large": ["--n", "1000000", "--queries", "1000"],
            },
            parse_index,
        ),
        Bench(
            "serve",
            "bench_serve.py",
            {
                "tiny": [
                    "--users",
                    "200",
                    "--items",
                    "1000",
                    "--requests",
                    "50",
                    "--concurrency",
                    "4",
                ],
                "small": [
                    "--users",
                    "2000",
                    "--items",
                    "20000",
                    "--requests",
                    "500",
                    "--concurrency",
                    "1,8",
                ],
                "medium": [
                    "--users",
                    "10000",
                    "--items",
                    "100000",
                    "--requests",
                    "2000",
                    "--concurrency",
                    "1,8",
                ],
                "large": [
                    "--users",
                    "100000",
                    "--items",
                    "1000000",
                    "--requests",
                    "5000",
                    "--concurrency",
                    "1,8,32",
                ],
            },
            parse_serve,
        ),
        Bench(
            "baselines",
            "bench_baselines.py",
            {
                "tiny": ["--baselines", "random,popularity", "--out", "{work}/baselines"],
                "small": ["--baselines", "random,popularity", "--out", "{work}/baselines"],
                "medium": ["--out", "{work}/baselines"],
                "large": ["--out", "{work}/baselines"],
            },
            parse_baselines,
            needs=SHARED_CIAO,
        ),
        Bench(
            "engagement_recall",
            "bench_engagement_recall.py",
            {"tiny": ["--repeat", "1"], "small": ["--repeat", "3"], "medium": ["--repeat", "5"], "large": ["--repeat", "5"]},
            parse_engagement_recall,
            needs=SHARED_CIAO,
        ),
        Bench(
            "scaling",
            "bench_scaling.py",
            {
                "tiny": ["--edges", "20000", "--steps", "2", "--work", "{work}/scaling"],
                "small": ["--edges", "1000000", "--steps", "5", "--work", "{work}/scaling"],
                "medium": ["--edges", "1000000", "10000000", "--work", "{work}/scaling"],
                "large": [
                    "--edges",
                    "1000000",
                    "10000000",
                    "100000000",
                    "--work",
                    "{work}/scaling",
                ],
            },
            parse_scaling,
        ),
    ]
    return {x.name: x for x in b}


def run_bench(bench: Bench, size: str, work: Path, timeout_s: float | None = None) -> Row:
    """Run one benchmark in a subprocess and return its table row (never raises on failure)."""
    row: Row = {"name": bench.name, "size": size}
    if bench.needs is not None and not bench.needs.exists():
        return {
            **row,
            "status": "skipped",
            "note": f"{bench.needs} absent",
            **_row(None, None, None),
        }
    cmd = bench.command(size, work)
    timeout = timeout_s if timeout_s is not None else bench.timeout_s[size]
    run = run_child(cmd, env=child_env(), timeout=timeout, cwd=REPO)
    parsed = bench.parse(run.stdout) if run.returncode == 0 else _row(None, None, None)
    status = (
        "ok"
        if run.returncode == 0
        else ("timeout" if run.timed_out else f"failed (rc {run.returncode})")
    )
    if status == "ok" and parsed.get("figure") is None:
        status = "ok (figure not found in output)"
    return {
        **row,
        "status": status,
        **parsed,
        "wall_s": round(run.wall_s, 1),
        "peak_rss_mib": round(run.peak_rss_mib, 1),
        "cpu_s": round(run.cpu_s, 1),
        "command": " ".join(cmd[1:]),
        "stdout_tail": run.stdout[-4000:],
        "stderr_tail": run.stderr[-2000:] if run.returncode else "",
    }


def format_table(rows: list[Row]) -> str:
    """A Markdown table of the rows: name, status, figure, reference, ratio, wall s, peak MiB."""
    lines = [
        "| benchmark | status | figure | reference (same run) | ratio | wall s | peak RSS MiB |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:g}"
        lines.append(
            f"| {r['name']} | {r['status']} | {r.get('figure') or ''} | {r.get('reference') or ''} | {ratio} | "
            f"{r.get('wall_s', '')} | {r.get('peak_rss_mib', '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=SIZES, default="small")
    ap.add_argument("--only", default=None, help="comma-separated benchmark names (default: all)")
    ap.add_argument(
        "--json", default=None, help="write every row (with command and output tail) here"
    )
    ap.add_argument(
        "--work", default=None, help="cache directory for worlds/graphs (default: a temp dir)"
    )
    ap.add_argument(
        "--timeout", type=float, default=None, help="seconds per benchmark (default: by size)"
    )
    ap.add_argument(
        "--list", action="store_true", help="print the benchmarks and their commands, run nothing"
    )
    args = ap.parse_args(argv)
    benches = registry()
    names = (
        list(benches) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    )
    unknown = [n for n in names if n not in benches]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; known: {', '.join(benches)}")
    import tempfile

    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="rankgraph-bench-")
    work = Path(args.work) if args.work else Path(tmp.name)  # type: ignore[union-attr]
    if args.list:
        for n in names:
            print(f"{n}: {' '.join(benches[n].command(args.size, work)[1:])}")
        return 0
    print(
        f"size {args.size}; {load_note()}; started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        flush=True,
    )
    rows = []
    for n in names:
        t0 = time.perf_counter()
        print(f"-- {n} ...", end=" ", flush=True)
        row = run_bench(benches[n], args.size, work, args.timeout)
        row["load_after"] = load_note()
        rows.append(row)
        print(f"{row['status']} in {time.perf_counter() - t0:.0f} s", flush=True)
    print()
    print(format_table(rows))
    if args.json:
        doc = {
            "size": args.size,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rows": rows,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2))
        print(f"\nwrote {args.json}")
    if tmp is not None:
        tmp.cleanup()
    return 0 if all(r["status"].startswith(("ok", "skipped")) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
