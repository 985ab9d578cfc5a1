"""Schemathesis over every operation of the API, as every kind of caller (issue 20: fuzzing).

The real app on a real TCP port (real Redis, the shipped model, captcha test mode, rate limits
off so generated requests reach the handlers), called as a reader (no credentials), a
moderator, an admin and a portal (its API key). For every generated request: never a 5xx, every
answer as the OpenAPI document says (status, content type, headers, body), and a request the
document calls valid is accepted, or refused for a reason the document cannot express and the
handler must keep (a credential that does not reach, a comment that does not exist, a version
that moved on, a captcha answered wrong, a rate limit), never turned away as malformed.

Seeded (`derandomize`), so CI runs the same cases every time; the number of cases sent is
counted and must reach MIN_CASES over the four callers (SECURITY.md records it).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from redis.asyncio import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.http.app import create_app
from service.review import moderators, portals
from service.settings import load, resolve
from service.store.keys import Keys
from tests.conftest import TEST_SECRET
from tests.submission_helpers import CODE

ROLES = ("reader", "moderator", "admin", "portal")
EXAMPLES = 10  # per operation and caller: 37 operations x 4 callers reach MIN_CASES in ~1 minute
MIN_CASES = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# What a request the document calls valid may still be answered: the caller lacks the right
# (401/403), the thing named does not exist (404), a version or state moved on (409), a rate
# limit (429); 422 is a submission the reader got wrong in a way no schema can say (a wrong
# captcha answer, a phone that is not a phone number, a name of invisible characters).
ACCEPTABLE = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTABLE}}, "seed": 20}
)

sent: Counter[str] = Counter()  # cases sent, by caller
RECORDED: set[tuple[str, str]] = set()
# Refusals of schema-valid requests the OpenAPI document cannot express, by operation: each a 400
# with a stable code naming the field, never a 5xx; listed so that any new one fails (SECURITY.md,
# "Known limits"). Patterns and the rules across fields are in the document (cursor,
# Idempotency-Key, `replaces`, moderator names, a rejection's reason, a ban's value or comment, the
# forms' fields, no null in a form); what is left is a value only a parser can judge.
KNOWN_GAPS: dict[str, set[str]] = {
    # whether a ban's value is an address, a /24 or /64 network, or a phone number: ipaddress and
    # phonenumbers say, not a pattern
    "POST /v1/bans": {"invalid_ban"},
}


@pytest.fixture(scope="module")
def fuzz_url(redis_url: str) -> Iterator[str]:
    """The real app on a real TCP port, from its own thread and event loop (requests is blocking)."""
    data_dir = Path(tempfile.mkdtemp(prefix="dy-fuzz-"))
    app_settings = resolve(
        load(
            {},
            redis_url=redis_url,
            key_prefix="fuzz",
            data_dir=data_dir,
            secret_key=TEST_SECRET,
            log_level="WARNING",
            captcha_test_code=CODE,
            captcha_pool_target=0,
            captcha_render_workers=1,
            captcha_issue_limit=0,
            captcha_refresh_limit=0,
            submit_limit_client=0,
            submit_limit_article=0,
            spam_score_process=False,
            redis_timeout=5.0,
        )
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(create_app(app_settings))

    async def start() -> int:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return int(runner.addresses[0][1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def credentials(redis_url: str, fuzz_url: str) -> dict[str, dict[str, str]]:
    """Headers of each caller: none, a moderator's token, an admin's token, a portal's key."""

    async def make() -> dict[str, dict[str, str]]:
        redis: Redis = Redis.from_url(redis_url, decode_responses=True)
        keys = Keys("fuzz")
        try:
            _, mod = await moderators.add(redis, keys, "fuzz-moderator", moderators.Role.MODERATOR)
            _, admin = await moderators.add(redis, keys, "fuzz-admin", moderators.Role.ADMIN)
            _, portal = await portals.add(redis, keys, "fuzz-portal")
        finally:
            await redis.aclose()
        return {
            "reader": {},
            "moderator": {"Authorization": f"Bearer {mod}"},
            "admin": {"Authorization": f"Bearer {admin}"},
            "portal": {portals.KEY_HEADER: portal, portals.CLIENT_IP_HEADER: "198.51.100.7"},
        }

    return asyncio.run(make())


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json", config=CONFIG)


# The moderators' event stream never ends by itself (a read would wait out its timeout on every
# case): its answers and headers are tested in test_queue_api.py and test_security_edge.py.
schema = schemathesis.pytest.from_fixture("fuzz_schema").exclude(path="/v1/events")


def _accepted_if_valid(case: Any, response: Any) -> None:
    """A request the document calls valid is not refused as malformed (400), unless its refusal is
    one the document cannot express yet (KNOWN_GAPS: a rule across fields, a pattern not declared)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "?"
    label = f"{case.method.upper()} {case.path}"
    RECORDED.add((label, code))
    assert code in KNOWN_GAPS.get(label, ()), f"{label}: a schema-valid request refused as {code}"


def _as(role: str) -> Any:
    """The fuzzing test of one caller (one test per caller: schemathesis' generated tests take no
    `parametrize`, and a failure then names the caller)."""

    @pytest.mark.slow
    @schema.parametrize()
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any, fuzz_url: str, credentials: dict[str, dict[str, str]]) -> None:
        """Generated requests for every operation: never a 5xx, every answer as documented,
        valid requests accepted or refused only for a reason the handler must keep."""
        sent[role] += 1
        with requests.Session() as session:
            response = case.call_and_validate(
                base_url=fuzz_url, session=session, headers=credentials[role], checks=CHECKS, timeout=10
            )
        _accepted_if_valid(case, response)

    return fuzz


test_every_operation_as_a_reader = _as("reader")
test_every_operation_as_a_moderator = _as("moderator")
test_every_operation_as_an_admin = _as("admin")
test_every_operation_as_a_portal = _as("portal")


@pytest.mark.slow
def test_enough_cases_were_sent() -> None:
    """The four callers together sent at least MIN_CASES requests (run after the fuzzing above)."""
    if set(sent) != set(ROLES):
        pytest.skip("runs after the whole fuzzing of this module")
    print(f"schemathesis cases sent: {dict(sent)}, total {sum(sent.values())}")
    print("schema-valid requests refused:", sorted(RECORDED))
    assert sum(sent.values()) >= MIN_CASES, dict(sent)
