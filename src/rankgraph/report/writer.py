"""Write `report.md` and `report.html` for a run directory.

Everything in the report is read from the run's own files (`metrics.json`,
`model/metrics.jsonl`, `embeddings/`), so a report can be regenerated at any time and
never shows a number the run did not produce. Plots need matplotlib (extra `report`);
without it the report keeps its tables and says the plots were skipped.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from rankgraph.artifact import atomic_write_text
from rankgraph.capabilities import WITH_MATPLOTLIB


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def summary_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the headline table: one row per method."""
    ks = metrics["ks"]
    header = ["method"]
    for k in ks:
        header += [f"ER@{k}", f"ER@{k} xd"]
    for k in ks:
        header += [f"R@{k}", f"R@{k} xd", f"NDCG@{k}"]
    rows = []
    for name, m in metrics["methods"].items():
        row = [name]
        er, ui = m.get("engagement_recall", {}), m.get("user_item", {})
        for k in ks:
            row += [_fmt(er.get("all", {}).get(f"recall@{k}")), _fmt(er.get("cross_domain", {}).get(f"recall@{k}"))]
        for k in ks:
            row += [
                _fmt(ui.get("all", {}).get(f"recall@{k}")),
                _fmt(ui.get("cross_domain", {}).get(f"recall@{k}")),
                _fmt(ui.get("all", {}).get(f"ndcg@{k}")),
            ]
        rows.append(row)
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def domain_rows(metrics: dict[str, Any], k: int) -> tuple[list[str], list[list[str]]]:
    """Engagement Recall@k per domain and method."""
    methods = list(metrics["methods"])
    domains: list[str] = []
    for m in metrics["methods"].values():
        for d in m.get("engagement_recall", {}).get("by_domain", {}):
            if d not in domains:
                domains.append(d)
    header = ["domain"] + methods
    rows = []
    for d in domains:
        row = [d]
        for name in methods:
            by = metrics["methods"][name].get("engagement_recall", {}).get("by_domain", {}).get(d, {})
            row.append(_fmt(by.get(f"recall@{k}")))
        rows.append(row)
    return header, rows


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _plots(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Path]:
    """Render the report's figures as PNG files under RUN_DIR/plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    files: dict[str, Path] = {}

    # an ensemble's curves are its first member's (train.ensemble > 1)
    model_dir = run_dir / "model"
    log = _read_jsonl(model_dir / "metrics.jsonl") or _read_jsonl(model_dir / "members" / "0" / "metrics.jsonl")
    train = [r for r in log if r.get("event") == "train"]
    evals = [r for r in log if r.get("event") == "eval"]
    if train:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
        ax[0].plot([r["step"] for r in train], [r["loss"] for r in train], label="total")
        for key in ("nce", "triplet"):
            if key in train[0]:
                ax[0].plot([r["step"] for r in train], [r[key] for r in train], label=key, alpha=0.7)
        ax[0].set_xlabel("step"), ax[0].set_ylabel("loss"), ax[0].legend(), ax[0].set_title("training loss")
        if evals:
            key = next((k for k in evals[0] if k.startswith("val_")), None)
            if key:
                ax[1].plot([r["step"] for r in evals], [r.get(key) for r in evals], marker="o")
                ax[1].set_xlabel("step"), ax[1].set_ylabel(key), ax[1].set_title("validation")
        fig.tight_layout()
        files["training"] = out_dir / "training.png"
        fig.savefig(files["training"], dpi=90)
        plt.close(fig)

    ks = metrics["ks"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, m in metrics["methods"].items():
        for i, part in enumerate(("engagement_recall", "user_item")):
            vals = [m.get(part, {}).get("all", {}).get(f"recall@{k}") for k in ks]
            ax[i].plot(ks, [np.nan if v is None else v for v in vals], marker="o", label=name)
    ax[0].set_title("Engagement Recall@K"), ax[1].set_title("user->item Recall@K")
    for a in ax:
        a.set_xlabel("K"), a.legend(fontsize=8)
    fig.tight_layout()
    files["recall"] = out_dir / "recall_at_k.png"
    fig.savefig(files["recall"], dpi=90)
    plt.close(fig)

    k = ks[-1]
    header, rows = domain_rows(metrics, k)
    if rows:
        fig, ax = plt.subplots(figsize=(10, 3.5))
        width = 0.8 / max(len(header) - 1, 1)
        x = np.arange(len(rows))
        for j, name in enumerate(header[1:]):
            vals = [float(r[j + 1]) if r[j + 1] != "n/a" else 0.0 for r in rows]
            ax.bar(x + j * width, vals, width, label=name)
        ax.set_xticks(x + width * (len(header) - 2) / 2, [r[0] for r in rows], rotation=30, ha="right")
        ax.set_title(f"Engagement Recall@{k} per domain"), ax.legend(fontsize=8)
        fig.tight_layout()
        files["domains"] = out_dir / "domains.png"
        fig.savefig(files["domains"], dpi=90)
        plt.close(fig)

    projection = _projection_plot(run_dir, plt)
    if projection is not None:
        files["projection"] = projection
    return files


def _projection_plot(run_dir: Path, plt: Any, max_points: int = 4000) -> Path | None:
    """2-D PCA of item embeddings coloured by domain (a quick look at the learned geometry)."""
    emb_dir = run_dir / "embeddings"
    if not (emb_dir / "manifest.json").is_file():
        return None
    from rankgraph.embed.artifact import EmbeddingSet

    emb = EmbeddingSet.load(emb_dir, checksums=False)
    types = [t for t in emb.item_types if emb.types[t].domain is not None]
    if not types:
        return None
    vectors, _, domains = emb.stacked_items(types)
    rng = np.random.default_rng(0)
    take = rng.choice(len(vectors), min(max_points, len(vectors)), replace=False)
    x = np.asarray(vectors[take], dtype=np.float64)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    dom = domains[take].astype(str)
    fig, ax = plt.subplots(figsize=(6, 5))
    for d in sorted(set(dom)):
        sel = dom == d
        ax.scatter(xy[sel, 0], xy[sel, 1], s=4, alpha=0.6, label=d)
    ax.set_title("item embeddings, PCA, by domain"), ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    path = run_dir / "plots" / "item_projection.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _readout_line(training: dict[str, Any]) -> str:
    """One sentence on the popularity read-out RankGraph's scores used, if it was tuned."""
    tuned = training.get("popularity_readout")
    if not tuned:
        return ""
    fraction = float(tuned.get("recent_fraction", 1.0))
    window = "all train engagement edges" if fraction >= 1.0 else f"the newest {fraction:.0%} of train engagement edges"
    return (
        f"RankGraph scores are `cosine / temperature + beta * log q(item)` with beta {tuned['users']:g} "
        f"for user->item and {tuned['items']:g} for item->item neighbours, q counted over {window}, "
        "chosen for the same objective on the training edges held out of both positives and message "
        "passing (never on test)."
    )


def _tuning_line(metrics: dict[str, Any]) -> str:
    """What every method was tuned for, so a reader can tell which slices the comparison favours."""
    ecfg = metrics.get("config", {}).get("evaluate", {})
    k = ecfg.get("tune_k") or max(metrics.get("ks") or [0])
    weight = float(ecfg.get("tune_cross_domain_weight") or 0.0)
    target = f"Recall@{k}" + (f" + {weight:g} x its cross-domain slice" if weight else "")
    return f"Baselines were tuned for {target} on a validation slice carved from the end of train."


def write_report(run_dir: str | Path, metrics: dict[str, Any]) -> tuple[Path, Path]:
    """Write RUN_DIR/report.md and RUN_DIR/report.html; returns their paths."""
    run_dir = Path(run_dir)
    k = metrics["ks"][-1]
    header, rows = summary_rows(metrics)
    d_header, d_rows = domain_rows(metrics, k)
    rg = metrics["methods"].get("rankgraph", {})
    counts = rg.get("counts", {})
    training = rg.get("training", {})
    plots = _plots(run_dir, metrics) if WITH_MATPLOTLIB else {}

    md = [
        f"# RankGraph run: {metrics.get('dataset')}",
        "",
        f"Temporal cut: `{metrics.get('cut')}` ({metrics.get('time_unit')}); the graph, the model and every "
        "baseline saw only events before it. " + _tuning_line(metrics),
        "",
        f"Users {counts.get('users', 'n/a'):,}, items {counts.get('items', 'n/a'):,}, "
        f"test pairs {counts.get('test_pairs', 'n/a'):,} (cross-domain {counts.get('cross_domain_pairs', 'n/a'):,}), "
        f"evaluated users {counts.get('evaluated_users', 'n/a'):,}."
        if counts
        else "",
        "",
        "## Results",
        "",
        "ER = Engagement Recall (trigger-based, the paper's metric), R = direct user->item recall, "
        "`xd` = cross-domain slice (test items in domains the user never engaged with before the cut).",
        "",
        markdown_table(header, rows),
        "",
        _readout_line(training),
        "",
        f"## Engagement Recall@{k} per domain",
        "",
        markdown_table(d_header, d_rows) if d_rows else "(no per-domain figures)",
        "",
        "## Training",
        "",
        "```json",
        json.dumps(training, indent=2, default=str),
        "```",
        "",
        "## Time per stage (seconds)",
        "",
        markdown_table(["stage", "seconds"], [[s, _fmt(v)] for s, v in metrics.get("seconds", {}).items()]),
        "",
    ]
    if plots:
        md += ["## Plots", ""] + [f"![{name}](plots/{p.name})" for name, p in plots.items()] + [""]
    elif not WITH_MATPLOTLIB:
        md += ["(plots skipped: install the `report` extra for matplotlib)", ""]
    md_text = "\n".join(md)
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    atomic_write_text(md_path, md_text)
    atomic_write_text(html_path, _html(md_text, plots))
    return md_path, html_path


def _html(md_text: str, plots: dict[str, Path]) -> str:
    """A self-contained HTML page: tables rendered, plots embedded as base64 PNG."""
    body: list[str] = []
    lines = md_text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            table = []
            while i < len(lines) and lines[i].startswith("|"):
                table.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            head, rest = table[0], table[2:]
            body.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>")
            body += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rest]
            body.append("</table>")
            continue
        if line.startswith("```"):
            block = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            body.append("<pre>" + html.escape("\n".join(block)) + "</pre>")
        elif line.startswith("!["):
            name = line[2 : line.index("]")]
            if name in plots:
                data = base64.b64encode(plots[name].read_bytes()).decode()
                body.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">')
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
        i += 1
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "th{background:#f3f3f3}img{max-width:100%}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>RankGraph report</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
