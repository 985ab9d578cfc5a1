"""Prometheus metrics. One registry per app (not the global one), so tests can build many apps.

Domain metrics live here too, so /metrics has one place to look for names.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "duyet_http_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "duyet_http_request_seconds",
            "HTTP latency by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.redis_errors = Counter("duyet_redis_errors", "Redis errors by kind", ["kind"], registry=r)
        # captcha
        self.captchas_issued = Counter("duyet_captchas_issued", "Captchas issued", ["source"], registry=r)
        self.captchas_verified = Counter(
            "duyet_captcha_verifications", "Captcha verifications by outcome", ["outcome"], registry=r
        )
        self.captcha_pool = Gauge("duyet_captcha_pool_size", "Pre-rendered captchas waiting", registry=r)
        self.captcha_render = Histogram(
            "duyet_captcha_render_seconds", "Captcha render time", ["kind"], buckets=LATENCY_BUCKETS, registry=r
        )
        # submissions
        self.submissions = Counter("duyet_submissions", "Comment submissions by outcome", ["outcome"], registry=r)
        self.spam_scores = Histogram(
            "duyet_spam_probability",
            "Spam probability of submissions",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99),
            registry=r,
        )
        # review queue
        self.queue_depth = Gauge("duyet_queue_depth", "Comments by state", ["state"], registry=r)
        self.queue_oldest = Gauge("duyet_queue_oldest_seconds", "Age of the oldest pending comment", registry=r)
        self.decisions = Counter("duyet_decisions", "Moderator decisions", ["action", "reason"], registry=r)
        self.lease_expiries = Counter("duyet_lease_expiries", "Claims whose lease expired", registry=r)
        # model
        self.spam_batches = Counter(
            "duyet_spam_batches", "Scoring batches by where they ran (loop, thread, process)", ["where"], registry=r
        )
        self.spam_process_losses = Counter(
            "duyet_spam_process_losses",
            "Times the scoring process died or could not start (the thread scores meanwhile)",
            registry=r,
        )
        self.shadow = Counter("duyet_shadow_agreement", "Shadow model verdicts vs current", ["outcome"], registry=r)

    def render(self) -> bytes:
        # With several worker processes each has its own counters; prometheus_client's
        # multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `duyet serve --workers N`) sums them.
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
