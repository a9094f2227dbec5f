"""Settings of the retrieval service (`rankgraph serve`), as one dataclass.

Retrieval settings that the evaluation also uses (the index, the trigger neighbours and
event weights) are taken from the `evaluate` section of the config tree, so the service
scores exactly like Engagement Recall does; this dataclass holds only what is about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rankgraph.config.evaluate import IndexConfig


@dataclass
class ServeConfig:
    """How the service loads, answers and bounds requests.

    `allowed_root`: `/reload` only accepts artifacts under it (symlinks resolved); None means
    the folder holding the startup artifact. With `batching`, concurrent searches on the same
    index are answered by one FAISS call: the batcher takes whatever queued while the previous
    call ran, plus what arrives within `batch_window_ms` (0: no added wait). On CPU FAISS a
    batched search is not cheaper per query at 100k items, but the batcher's hand-off costs
    less than the request thread pool's, so it measured faster end to end (docs/benchmarks.md,
    "Retrieval service").
    `watch_interval_s: 0` turns the manifest watcher off. `threads`: FAISS OpenMP threads
    (process-wide; 0 leaves FAISS's default).
    """

    embeddings: Path
    graph: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 0
    allowed_root: Path | None = None
    max_body_bytes: int = 1 << 20
    batching: bool = True
    batch_window_ms: float = 0.0
    max_batch: int = 64
    watch_interval_s: float = 0.0
    verify_checksums: bool = True
    prebuild_filters: bool = True
    index: IndexConfig = field(default_factory=IndexConfig)
    neighbours: int = 20
    trigger_weights: dict[str, float] = field(default_factory=dict)
    # score as the evaluation does (`evaluate.popularity_readout`): similarity / temperature +
    # beta * log q(item); "auto" = the betas tuned in training and stored in the embeddings,
    # a number = that beta for both directions, 0 = plain cosine
    popularity_readout: float | str = "auto"

    def root(self) -> Path:
        """The resolved folder `/reload` paths must stay inside."""
        base = self.allowed_root if self.allowed_root is not None else Path(self.embeddings).resolve().parent
        return Path(base).resolve()
