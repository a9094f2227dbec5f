"""Event input: canonical events, node tables, side edges, splits and dataset adapters."""

from rankgraph.data.events import open_events, read_events

__all__ = ["open_events", "read_events"]
