"""RankGraph: heterogeneous graph learning for cross-domain recommendation."""

__version__ = "0.1.0"
