"""Routing: a public model name answered by the first healthy target of an ordered chain.

Every public name is a `Route` over one or more targets (a plain model is a chain of
one). A target is a provider with a circuit breaker and health counters, shared by every
route that uses it. Before the first token a failing target is retried (jittered backoff,
Retry-After honoured) then passed over for the next one, invisibly to the client; after
the first token the stream is ended with an error, never spliced with another answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from causerie.errors import (
    Busy,
    CauserieError,
    InvalidRequest,
    ModelNotReady,
    Unavailable,
    UpstreamError,
)
from causerie.metrics import Metrics
from causerie.providers.base import Capabilities, Provider
from causerie.settings import RoutingConfig, Settings

Clock = Callable[[], float]


class Breaker:
    """A circuit breaker: closed, open (skip the target) or half-open (one probe at a time)."""

    def __init__(self, failures: int, cooldown: float, cooldown_max: float, clock: Clock):
        self.threshold = failures
        self.cooldown = cooldown
        self.cooldown_max = cooldown_max
        self.clock = clock
        self.state = "closed"
        self.failures = 0
        self.open_until = 0.0
        self._next_cooldown = cooldown
        self._probing = False

    def allow(self) -> bool:
        """May a request be sent now? Turns an expired open circuit half-open."""
        if self.state == "open" and self.clock() >= self.open_until:
            self.state = "half_open"
        if self.state == "half_open":
            if self._probing:
                return False
            self._probing = True
        return self.state != "open"

    def success(self) -> None:
        """The target answered: close the circuit."""
        self.state, self.failures, self._probing = "closed", 0, False
        self._next_cooldown = self.cooldown

    def failure(self) -> None:
        """The target failed; open after enough in a row, or at once when probing."""
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            self._open(self._next_cooldown)
            self._next_cooldown = min(self._next_cooldown * 2, self.cooldown_max)
        self._probing = False

    def cool(self, seconds: float) -> None:
        """Skip the target for as long as it asked (429 with Retry-After)."""
        self._open(seconds)
        self._probing = False

    def release(self) -> None:
        """An attempt ended without telling anything about the target's health."""
        self._probing = False

    def remaining(self) -> float:
        """Seconds until an open circuit lets a probe through."""
        return max(0.0, self.open_until - self.clock()) if self.state == "open" else 0.0

    def _open(self, seconds: float) -> None:
        self.state = "open"
        self.open_until = max(self.open_until, self.clock() + seconds)


@dataclass
class Target:
    """A provider with its breaker and health, shared by the routes that use it."""

    name: str
    provider: Provider
    breaker: Breaker
    requests: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_ok_at: float | None = None

    def ok(self) -> None:
        self.breaker.success()
        self.last_ok_at = time.time()

    def failed(self, exc: CauserieError) -> None:
        self.errors += 1
        self.last_error, self.last_error_at = exc.message, time.time()

    def health(self) -> dict[str, Any]:
        """State of the circuit and recent history, for /health/targets and metrics."""
        b = self.breaker
        return {
            "state": b.state,
            "ready": self.provider.ready,
            "consecutive_failures": b.failures,
            "retry_in": round(b.remaining(), 3),
            "requests": self.requests,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_ok_at": self.last_ok_at,
        }


@dataclass
class _Attempt:
    """One stream from one target, held back until its first token."""

    target: Target
    chunks: AsyncIterator[dict[str, Any]]
    held: list[dict[str, Any]]


class Route:
    """A public model name: the Provider interface over an ordered chain of targets."""

    def __init__(
        self,
        name: str,
        targets: list[Target],
        policy: RoutingConfig,
        metrics: Metrics | None = None,
        *,
        owned_by: str = "causerie",
        upstream_model: str | None = None,
    ):
        self.name = name
        self.targets = targets
        self.policy = policy
        self.metrics = metrics
        self.owned_by = owned_by
        self.upstream_model = upstream_model
        caps = [t.provider.capabilities for t in targets]
        self.capabilities = Capabilities(
            tools=all(c.tools for c in caps), json_schema=all(c.json_schema for c in caps)
        )

    @property
    def ready(self) -> bool:
        return any(t.provider.ready for t in self.targets)

    @property
    def context_size(self) -> int | None:
        sizes = [t.provider.context_size for t in self.targets]
        return None if None in sizes else max(s for s in sizes if s is not None)

    async def start(self) -> None:
        """Nothing: the catalog starts the targets, which routes share."""

    async def close(self) -> None:
        """Nothing: the catalog closes the targets."""

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Chunks from the first target that produces a token; see the module docstring."""
        if self.upstream_model:
            body = {**body, "model": self.upstream_model}
        started = time.perf_counter()
        attempt = await self._first_answer(body)
        target, label = attempt.target, attempt.target.name
        first_token_at = time.perf_counter()
        if self.metrics:
            self.metrics.ttft.labels(self.name, label).observe(first_token_at - started)
        tokens, usage_tokens, outcome = 0, None, "cancelled"
        try:
            for chunk in attempt.held:
                tokens += _content_count(chunk)
                yield chunk
            async for chunk in attempt.chunks:
                if chunk.get("choices"):
                    tokens += _content_count(chunk)
                elif usage := chunk.get("usage"):
                    usage_tokens = usage.get("completion_tokens")
                yield chunk
            outcome = "ok"
            target.ok()
        except CauserieError as exc:
            outcome = "cut"
            self._failed(target, exc)
            target.breaker.failure()
            raise UpstreamError(
                f"The answer from model '{self.name}' was cut off: {exc.message}",
                kind=getattr(exc, "kind", "engine"),
            ) from None
        finally:
            if outcome == "cancelled":
                target.breaker.release()
            await attempt.chunks.aclose()
            self._finished(label, outcome, tokens if usage_tokens is None else usage_tokens)
            if outcome == "ok":
                self._throughput(
                    label, usage_tokens or tokens, time.perf_counter() - first_token_at
                )

    async def _first_answer(self, body: dict[str, Any]) -> _Attempt:
        """Try the targets in order until one streams a token; raise if none does."""
        failures: list[CauserieError] = []
        skipped: list[Target] = []
        for target in self.targets:
            if not target.breaker.allow():
                skipped.append(target)
                self._fallback(target, "circuit_open")
                continue
            attempt = await self._try_target(target, body, failures)
            if attempt is not None:
                return attempt
            self._fallback(target, getattr(failures[-1], "kind", "error"))
        raise self._exhausted(failures, skipped)

    async def _try_target(
        self, target: Target, body: dict[str, Any], failures: list[CauserieError]
    ) -> _Attempt | None:
        """Stream from one target with retries; None when it failed before any token."""
        probing = target.breaker.state == "half_open"
        for retry in range(self.policy.retries + 1):
            target.requests += 1
            chunks = target.provider.stream(body)
            try:
                held = await _until_first_token(chunks)
            except CauserieError as exc:
                await chunks.aclose()
                self._failed(target, exc)
                self._count(target.name, "error")
                delay = None if probing else self._retry_delay(exc, retry)
                if delay is None:
                    failures.append(exc)
                    self._judge(target, exc)
                    return None
                if self.metrics:
                    self.metrics.retries.labels(self.name, target.name).inc()
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await chunks.aclose()
                target.breaker.release()
                raise
            # Health is judged when the stream ends: a target that cuts answers is unwell.
            return _Attempt(target, chunks, held)
        raise AssertionError("unreachable: the last attempt returns")

    def _retry_delay(self, exc: CauserieError, retry: int) -> float | None:
        """Seconds to wait before trying the same target again, or None to move on."""
        if not isinstance(exc, UpstreamError) or not exc.retryable or retry >= self.policy.retries:
            return None
        if exc.retry_after is not None:
            if exc.retry_after > self.policy.retry_after_max:
                return None
            return exc.retry_after + random.uniform(0, 0.1)
        ceiling = min(self.policy.backoff_max, self.policy.backoff * 2**retry)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter spreads the herd

    def _judge(self, target: Target, exc: CauserieError) -> None:
        """What a failure before the first token says about the target's health."""
        if _client_fault(exc) or isinstance(exc, Busy | ModelNotReady):
            target.breaker.release()  # the request or the load, not the target, is at fault
        elif isinstance(exc, UpstreamError) and exc.kind == "http_429":
            target.breaker.cool(exc.retry_after or self.policy.breaker_cooldown)
        else:
            target.breaker.failure()

    def _exhausted(self, failures: list[CauserieError], skipped: list[Target]) -> CauserieError:
        """The error for a request no target answered."""
        for exc in failures:
            if _client_fault(exc):
                return exc
        waits = [t.breaker.remaining() for t in skipped]
        waits += [e.retry_after or 1.0 for e in failures if isinstance(e, Busy | UpstreamError)]
        retry_after = max(1.0, min(waits, default=1.0))
        if failures and all(_rate_limited(e) for e in failures):
            if len(failures) == 1 and not skipped:
                return Busy(failures[0].message, retry_after=retry_after)
            return Busy(f"Every target of model '{self.name}' is busy.", retry_after=retry_after)
        if len(failures) == 1 and not skipped:
            return failures[0]  # a chain of one keeps its own error (503, 502...)
        reasons = "; ".join(
            [e.message for e in failures]
            + [
                f"{t.name}: skipped for {t.breaker.remaining():.0f} s after failures"
                for t in skipped
            ]
        )
        return Unavailable(
            f"No target of model '{self.name}' could answer: {reasons}", retry_after=retry_after
        )

    # -- bookkeeping -------------------------------------------------------------------

    def _failed(self, target: Target, exc: CauserieError) -> None:
        target.failed(exc)
        if self.metrics:
            self.metrics.errors.labels(self.name, target.name, getattr(exc, "kind", "engine")).inc()

    def _fallback(self, target: Target, reason: str) -> None:
        if self.metrics and target is not self.targets[-1]:
            self.metrics.fallbacks.labels(self.name, target.name, reason).inc()

    def _count(self, target: str, outcome: str) -> None:
        if self.metrics:
            self.metrics.requests.labels(self.name, target, outcome).inc()

    def _finished(self, target: str, outcome: str, tokens: int) -> None:
        if self.metrics:
            self._count(target, outcome)
            self.metrics.completion_tokens.labels(self.name, target).inc(tokens)

    def _throughput(self, target: str, tokens: int, seconds: float) -> None:
        if self.metrics and tokens > 1 and seconds > 0:
            self.metrics.tokens_per_second.labels(self.name, target).observe(tokens / seconds)


async def _until_first_token(chunks: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chunks up to and including the first that carries output (or the end)."""
    held = []
    async for chunk in chunks:
        held.append(chunk)
        if _carries_output(chunk):
            break
    return held


def _carries_output(chunk: dict[str, Any]) -> bool:
    choices = chunk.get("choices")
    if not choices:
        return True  # the usage chunk: the answer is over
    choice = choices[0]
    delta = choice.get("delta") or {}
    return bool(
        choice.get("finish_reason")
        or delta.get("content")
        or delta.get("tool_calls")
        or delta.get("refusal")
    )


def _content_count(chunk: dict[str, Any]) -> int:
    choices = chunk.get("choices")
    return 1 if choices and (choices[0].get("delta") or {}).get("content") else 0


def _client_fault(exc: CauserieError) -> bool:
    return isinstance(exc, InvalidRequest) or getattr(exc, "client_fault", False)


def _rate_limited(exc: CauserieError) -> bool:
    return isinstance(exc, Busy) or getattr(exc, "kind", None) == "http_429"


class Routing:
    """Targets (one per configured model) and the routes (public names) over them."""

    def __init__(
        self,
        settings: Settings,
        providers: dict[str, Provider],
        metrics: Metrics | None = None,
        clock: Clock = time.monotonic,
    ):
        policy = settings.routing
        self.policy = policy
        self.metrics = metrics
        self.targets = {
            name: Target(
                name,
                provider,
                Breaker(
                    policy.breaker_failures,
                    policy.breaker_cooldown,
                    policy.breaker_cooldown_max,
                    clock,
                ),
            )
            for name, provider in providers.items()
        }
        self.routes: dict[str, Route] = {}
        for model in settings.models:
            if model.public:
                self.routes[model.name] = Route(
                    model.name, [self.targets[model.name]], policy, metrics, owned_by=model.owned_by
                )
        for alias in settings.aliases:
            chain = [self.targets[t] for t in alias.targets]
            self.routes[alias.name] = Route(
                alias.name, chain, policy, metrics, owned_by=alias.owned_by
            )
        self._listing: dict[str, tuple[float, list[str]]] = {}
        if metrics:
            metrics.watch_targets(self.health)

    def health(self) -> dict[str, dict[str, Any]]:
        """Health of every target, by name."""
        return {name: t.health() for name, t in self.targets.items()}

    def resolve(self, name: str) -> Route | None:
        """The route for a public name, or '<model>/<upstream id>' on a listing model."""
        route = self.routes.get(name)
        if route is not None:
            return route
        prefix, sep, upstream = name.partition("/")
        target = self.targets.get(prefix)
        if not sep or not upstream or target is None or not _lists_upstream(target):
            return None
        # Built per request and not kept: clients choose these names, so a cache would grow.
        return Route(name, [target], self.policy, self.metrics, upstream_model=upstream)

    async def upstream_names(self) -> list[str]:
        """'<model>/<id>' for the upstream models of targets that list them (cached)."""
        names: list[str] = []
        for target in self.targets.values():
            if _lists_upstream(target):
                names += [f"{target.name}/{i}" for i in await self._upstream_ids(target)]
        return names

    async def _upstream_ids(self, target: Target) -> list[str]:
        now = time.monotonic()
        cached = self._listing.get(target.name)
        if cached and now - cached[0] < self.policy.upstream_models_ttl:
            return cached[1]
        try:
            ids = await target.provider.list_models()  # type: ignore[attr-defined]
        except CauserieError as exc:
            target.failed(exc)
            ids = cached[1] if cached else []  # a stale list beats none while it is down
        self._listing[target.name] = (now, ids)
        return ids


def _lists_upstream(target: Target) -> bool:
    config = getattr(target.provider, "config", None)
    return bool(getattr(config, "list_upstream_models", False)) and hasattr(
        target.provider, "list_models"
    )
