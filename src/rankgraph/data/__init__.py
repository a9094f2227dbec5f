"""Event input: canonical events, node tables, side edges, splits and dataset adapters."""

from rankgraph.data.events import open_events, read_events
from rankgraph.data.split import SplitResult, default_tang_cut, parse_cut, temporal_split
from rankgraph.data.tables import read_node_table, read_side_edges

__all__ = [
    "SplitResult",
    "default_tang_cut",
    "open_events",
    "parse_cut",
    "read_events",
    "read_node_table",
    "read_side_edges",
    "temporal_split",
]
