"""Request counters and latency histograms in the Prometheus text format (no extra dependency).

Counts are kept per (endpoint template, method, status), latencies per endpoint in fixed
buckets, plus reload results and batch sizes. Everything is guarded by one lock: an update
is a few dict operations, far below a request's cost.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Histogram:
    """Cumulative-bucket histogram with sum and count, as Prometheus expects."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out, total = [], 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts):
            total += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {total}')
        tail = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{tail} {self.sum!r}")
        out.append(f"{name}_count{tail} {self.count}")
        return out


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """The service's counters; `render()` is the body of GET /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.reloads: dict[str, int] = defaultdict(int)
        self.batches = Histogram(BATCH_BUCKETS)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, method, status)] += 1
            hist = self.latency.get(endpoint)
            if hist is None:
                hist = self.latency[endpoint] = Histogram(LATENCY_BUCKETS)
            hist.observe(seconds)

    def observe_reload(self, result: str) -> None:
        with self._lock:
            self.reloads[result] += 1

    def observe_batch(self, size: int) -> None:
        with self._lock:
            self.batches.observe(size)

    def count(self, endpoint: str, status: int | None = None) -> int:
        """Requests seen for an endpoint (optionally one status): for tests and /info."""
        with self._lock:
            return sum(n for (e, _, s), n in self.requests.items() if e == endpoint and (status is None or s == status))

    def render(self, gauges: dict[str, float] | None = None) -> str:
        with self._lock:
            lines = [
                "# HELP rankgraph_requests_total HTTP requests by endpoint, method and status.",
                "# TYPE rankgraph_requests_total counter",
            ]
            for (endpoint, method, status), n in sorted(self.requests.items()):
                lines.append(f'rankgraph_requests_total{{endpoint="{_esc(endpoint)}",method="{method}",status="{status}"}} {n}')
            lines += [
                "# HELP rankgraph_request_seconds Request latency by endpoint.",
                "# TYPE rankgraph_request_seconds histogram",
            ]
            for endpoint, hist in sorted(self.latency.items()):
                lines += hist.lines("rankgraph_request_seconds", f'endpoint="{_esc(endpoint)}"')
            lines += [
                "# HELP rankgraph_reloads_total Artifact reloads by result (ok, refused).",
                "# TYPE rankgraph_reloads_total counter",
            ]
            for result, n in sorted(self.reloads.items()):
                lines.append(f'rankgraph_reloads_total{{result="{result}"}} {n}')
            lines += [
                "# HELP rankgraph_search_batch_size Queries answered by one index search.",
                "# TYPE rankgraph_search_batch_size histogram",
                *self.batches.lines("rankgraph_search_batch_size", ""),
            ]
        for name, value in (gauges or {}).items():
            lines += [f"# TYPE {name} gauge", f"{name} {value!r}"]
        return "\n".join(lines) + "\n"
