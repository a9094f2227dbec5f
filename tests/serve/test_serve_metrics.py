"""Prometheus text rendering of the service's counters."""

from __future__ import annotations

from rankgraph.serve.metrics import Metrics


def test_latency_histogram_buckets_are_cumulative():
    m = Metrics()
    for seconds in (0.0003, 0.003, 0.003, 7.0):
        m.observe_request("/similar", "POST", 200, seconds)
    text = m.render()
    assert 'rankgraph_request_seconds_bucket{endpoint="/similar",le="0.0005"} 1' in text
    assert 'rankgraph_request_seconds_bucket{endpoint="/similar",le="0.005"} 3' in text
    assert 'rankgraph_request_seconds_bucket{endpoint="/similar",le="2.5"} 3' in text
    assert 'rankgraph_request_seconds_bucket{endpoint="/similar",le="+Inf"} 4' in text
    assert 'rankgraph_request_seconds_count{endpoint="/similar"} 4' in text


def test_every_sample_line_has_a_name_and_a_number():
    m = Metrics()
    m.observe_request("/recommend", "POST", 404, 0.01)
    m.observe_reload("ok")
    m.observe_batch(3)
    for line in m.render({"rankgraph_artifact_loaded_timestamp_seconds": 1.5}).splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.startswith("rankgraph_")
