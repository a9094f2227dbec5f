"""Run reports: Markdown and HTML with tables and plots, from `metrics.json` and the artifacts."""

from rankgraph.report.writer import write_report

__all__ = ["write_report"]
