"""Prometheus metrics of one application: requests, errors, fallbacks, TTFT, tokens/s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80)
RATE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class Metrics:
    """The counters and histograms, in a registry of their own (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "causerie_requests",
            "Attempts on a target, by how they ended (ok, error, cut, cancelled).",
            ["model", "target", "outcome"],
            registry=r,
        )
        self.errors = Counter(
            "causerie_errors",
            "Target failures by kind (connect, timeout, http_429, http_5xx, malformed...).",
            ["model", "target", "kind"],
            registry=r,
        )
        self.fallbacks = Counter(
            "causerie_fallbacks",
            "Requests passed on from a target to the next one, by reason.",
            ["model", "from_target", "reason"],
            registry=r,
        )
        self.retries = Counter(
            "causerie_retries", "Repeated attempts on one target.", ["model", "target"], registry=r
        )
        self.ttft = Histogram(
            "causerie_time_to_first_token_seconds",
            "From the request to its first token, by the target that answered.",
            ["model", "target"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens_per_second = Histogram(
            "causerie_tokens_per_second",
            "Generation speed after the first token.",
            ["model", "target"],
            buckets=RATE_BUCKETS,
            registry=r,
        )
        self.completion_tokens = Counter(
            "causerie_completion_tokens", "Tokens generated.", ["model", "target"], registry=r
        )

    def watch_targets(self, health: Callable[[], dict[str, dict[str, Any]]]) -> None:
        """Export each target's breaker state, read at scrape time."""
        self.registry.register(_TargetCollector(health))

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class _TargetCollector(Collector):
    def __init__(self, health: Callable[[], dict[str, dict[str, Any]]]):
        self._health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "causerie_target_up", "1 while a target's circuit is closed.", labels=["target"]
        )
        failures = GaugeMetricFamily(
            "causerie_target_consecutive_failures",
            "Failures in a row of a target.",
            labels=["target"],
        )
        for name, h in self._health().items():
            up.add_metric([name], 1.0 if h["state"] == "closed" else 0.0)
            failures.add_metric([name], float(h["consecutive_failures"]))
        yield up
        yield failures
