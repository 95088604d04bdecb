"""Prometheus text-format metrics (exposition format 0.0.4), written here: prometheus_client is not a dependency."""

from __future__ import annotations

import math
import threading
from typing import Dict, Iterable, List, Tuple

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[Tuple[str, str]]) -> str:
    pairs = list(pairs)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    def __init__(self, buckets):
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * len(self.buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1


class Metrics:
    """Counters, gauges and histograms of the offload server; thread-safe, rendered on demand."""

    def __init__(self, prefix: str = "shadowpeft_offload"):
        self.prefix = prefix
        self._lock = threading.Lock()
        self._requests: Dict[Tuple[str, str], int] = {}
        self._latency: Dict[str, _Histogram] = {}
        self._inference = _Histogram(LATENCY_BUCKETS)
        self._batch = _Histogram(BATCH_BUCKETS)
        self.gauges: Dict[str, Tuple[str, float]] = {}

    def count_request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one finished request and observe its latency."""
        with self._lock:
            key = (endpoint, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._latency.setdefault(endpoint, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_batch(self, size: int, seconds: float) -> None:
        """Observe one engine call: its batch size and how long it ran."""
        with self._lock:
            self._batch.observe(size)
            self._inference.observe(seconds)

    def requests_by_status(self) -> Dict[str, int]:
        """Return request counts summed over endpoints, by status code."""
        with self._lock:
            out: Dict[str, int] = {}
            for (_, status), n in self._requests.items():
                out[status] = out.get(status, 0) + n
            return out

    def render(self) -> str:
        """Return all metrics in the Prometheus text format."""
        p = self.prefix
        lines: List[str] = []
        with self._lock:
            lines += [f"# HELP {p}_requests_total Requests answered, by endpoint and HTTP status.",
                      f"# TYPE {p}_requests_total counter"]
            for (endpoint, status), n in sorted(self._requests.items()):
                lines.append(f"{p}_requests_total{_labels([('endpoint', endpoint), ('status', status)])} {n}")
            lines += [f"# HELP {p}_request_duration_seconds Time from request arrival to response, by endpoint.",
                      f"# TYPE {p}_request_duration_seconds histogram"]
            for endpoint, hist in sorted(self._latency.items()):
                lines += self._histogram_lines(f"{p}_request_duration_seconds", hist, [("endpoint", endpoint)])
            lines += [f"# HELP {p}_inference_seconds Duration of one engine call (one batch).",
                      f"# TYPE {p}_inference_seconds histogram"]
            lines += self._histogram_lines(f"{p}_inference_seconds", self._inference, [])
            lines += [f"# HELP {p}_batch_size Requests served by one engine call.",
                      f"# TYPE {p}_batch_size histogram"]
            lines += self._histogram_lines(f"{p}_batch_size", self._batch, [])
            for name, (help_text, value) in sorted(self.gauges.items()):
                lines += [f"# HELP {p}_{name} {help_text}", f"# TYPE {p}_{name} gauge", f"{p}_{name} {_number(value)}"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _histogram_lines(name: str, hist: _Histogram, labels) -> List[str]:
        out = []
        for bound, n in zip(hist.buckets, hist.counts):
            out.append(f"{name}_bucket{_labels(list(labels) + [('le', _number(bound))])} {n}")
        out.append(f"{name}_bucket{_labels(list(labels) + [('le', '+Inf')])} {hist.total}")
        out.append(f"{name}_sum{_labels(labels)} {_number(hist.sum)}")
        out.append(f"{name}_count{_labels(labels)} {hist.total}")
        return out
