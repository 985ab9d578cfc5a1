"""Shared fixtures: a real Redis/Valkey server over a socket, the real app, system tools.

The server is `REDIS_URL` when set (CI runs the Redis tests a second time against Debian's
redis-server), else an embedded Valkey started for the session. Each test starts from an empty
database. Tests that use the server are marked `redis` automatically.

With `DUYET_TEST_CLUSTER=1` the server is a local Redis Cluster instead (tests/topology.py: three
primaries and three replicas, started once for the session, FLUSHALL on every primary per test),
the apps run with `redis_cluster=True` and the `redis` fixture is a `RedisCluster` (.ci/run runs the
storage, captcha, submission, queue, registry and event tests so). Tests that need the cluster
whatever the mode use the `cluster` fixture and carry the `cluster` marker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis, RedisCluster

from service.http.app import create_app
from service.settings import Settings, load, resolve
from service.spam.loading import ModelCache
from service.store import embedded
from tests import topology
from tests.clients import MakeClient

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_SECRET = "test-secret-" + "x" * 40
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str, package: str) -> str:
    """The path of a system tool; skip (fail under CI) when its Debian package is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"needs `{name}`: install the Debian package `{package}`"
        if IN_CI:
            pytest.fail(message + " (missing under CI=true, where .ci/run installs it)")
        pytest.skip(message)
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "redis_url" in names:
            item.add_marker(pytest.mark.redis)
        if "cluster" in names:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[topology.Cluster]:
    """A local Redis Cluster (3 primaries + 3 replicas) for the session, started on first use."""
    base = Path(tempfile.mkdtemp(prefix="dyc-"))
    found = topology.start_cluster(base)
    try:
        yield found
    finally:
        found.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A real server for the whole session: REDIS_URL, or an embedded Valkey on a Unix socket
    (in cluster mode the local cluster, with `?cluster=true` so commands given the URL use it)."""
    if topology.CLUSTER_MODE:
        yield request.getfixturevalue("cluster").url + "?cluster=true"
        return
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    # Short path: Unix socket paths over ~100 bytes are refused.
    data_dir = Path(tempfile.mkdtemp(prefix="dy-"))
    server = embedded.start(data_dir)
    try:
        yield embedded.url_for(data_dir)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def redis(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    """A client on an empty database (in cluster mode a `RedisCluster` on an empty cluster)."""
    if topology.CLUSTER_MODE:
        topology.flush(request.getfixturevalue("cluster"))
        cluster_client: Any = RedisCluster.from_url(redis_url.split("?", 1)[0], decode_responses=True)
        yield cluster_client
        await cluster_client.aclose()
        return
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def make_settings(redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test app: the session's server, a temp data dir, a fixed secret."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "redis_url": redis_url,
            "data_dir": tmp_path / "data",
            "secret_key": TEST_SECRET,
            "log_level": "WARNING",
            # No pre-rendered captcha pool and one render worker: every test app would otherwise
            # spend two cores filling a 1,000-captcha pool. Captcha tests ask for a pool when needed.
            "captcha_pool_target": 0,
            "captcha_render_workers": 1,
            # Score in a thread: a scoring process would load the model again (~5 s of CPU) for
            # every test app that sees a burst. tests/test_spam_model.py tests the process.
            "spam_score_process": False,
            # The shared test server fsyncs every write on a disk other work shares: a stall over
            # the service's 1 s default would fail an unrelated test (the client never retries).
            # Tests of a stopped or hung store set their own server and bounds.
            "redis_timeout": 5.0,
        }
        if topology.CLUSTER_MODE and "redis_url" not in overrides:  # a test's own server is a single one
            # One partition, as the tests' `Keys()` expect: tests/test_cluster.py and test_replicas.py
            # cover the cluster's default of 16.
            values.update(redis_cluster=True, partitions=1)
        values.update(overrides)
        return resolve(load({}, **values))

    return factory


@pytest.fixture(scope="session")
def model_cache() -> ModelCache:
    """One cache for every app of the run: loading the shipped model costs seconds, and a loaded
    model is immutable."""
    return ModelCache()


@pytest.fixture
def make_client(
    model_cache: ModelCache,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: Callable[..., Settings],
    redis: Redis,
) -> MakeClient:
    """Start the real app (real Redis, the shipped model) and return an HTTP client for it."""

    async def factory(**overrides: Any) -> TestClient[Any, Any]:
        app: web.Application = create_app(make_settings(**overrides), model_cache)
        return await aiohttp_client(app)

    return factory


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()
