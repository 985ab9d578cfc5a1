"""The submission use case: a reader's comment, from form fields to the review queue.

    validate + normalise (every broken field at once; the captcha is kept)
    -> idempotent replay? (same key, same body: the same answer, nothing written)
    -> bans, rate limits (per client, per article)
    -> captcha checked (a wrong answer spends it; a right one is kept for the write)
    -> signals (honeypot, time to submit, repeat) -> spam score
    -> one Lua script (service.review.intake.enqueue): consume the captcha, store, enqueue, audit,
       idempotency record, repeat marker, queue event. All or nothing: a store that refuses it
       (full, hung, gone: 503) wrote nothing and spent no captcha.

Idempotent: the comment id is chosen before the script; a re-run with the same id, or the same
Idempotency-Key, answers the first outcome (202, the same id). So when the store's answer is lost
after the script was sent (a timeout while it hung, a connection reset), the script is run again
with the same id until its outcome is known (`OUTCOME_WAIT_S`): a comment stored while the reader
was told 503 is what a hung store used to cause. The client itself never retries a command.
The partition is the captcha's (service.store.keys), so a retry with the same body finds its
Idempotency-Key there.

Nothing is stored unscored: with the model not loaded the answer is 503 (before the captcha is
spent), because pre-moderation orders the queue by the score and a made-up score would mislead moderators.
Every submission goes to a moderator; signals never drop a comment, they explain it.
HTTP lives in `service.http.views.comments`; this module raises domain errors only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn, Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service import errors
from service.captcha.captchas import Checked, VerifyResult
from service.comments import admission, messages
from service.comments.validation import Code, Rules, ValidSubmission, validate_submission
from service.metrics import Metrics
from service.review import bans, intake
from service.review.comment_ids import new_comment_id
from service.settings import Settings
from service.spam.model import SpamInput
from service.spam.scorer import ModelNotReady, SpamScorer
from service.store import availability, durability, ratelimit
from service.store.keys import Keys
from service.store.scripts import Scripts

# How long a submission keeps re-running its write when the store's answer was lost (hung or
# restarting store), before answering 503: past a store's restart (service.store.embedded).
OUTCOME_WAIT_S = 8.0
_OUTCOME_RETRY_S = 0.1
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
USER_AGENT_MAX = 512
# A form token from the future by more than this is forged (or the clocks are far apart).
_CLOCK_SKEW_MS = 5000


class CaptchaVerifier(Protocol):
    """What `app[appkeys.CAPTCHAS]` offers (service.captcha.captchas)."""

    def partition(self, captcha_id: str) -> int: ...

    def prepare_check(self, captcha_id: str, answer: str, article_id: str) -> VerifyResult | Checked: ...

    def check_result(
        self, prepared: VerifyResult | Checked, found: int | None
    ) -> tuple[VerifyResult, Checked | None]: ...

    def consumed(self) -> None: ...


# Captcha outcomes the reader can fix, as field errors on `captcha_answer`.
_CAPTCHA_CODES = {
    VerifyResult.MISSING_INPUT_RESPONSE: Code.REQUIRED,
    VerifyResult.INVALID_INPUT_RESPONSE: Code.CAPTCHA_INVALID,
    VerifyResult.TIMEOUT_OR_DUPLICATE: Code.CAPTCHA_EXPIRED,
    VerifyResult.BAD_REQUEST: Code.CAPTCHA_INVALID,
}


class FormToken(StrEnum):
    """What the signed form-render timestamp told us."""

    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Deps:
    """What the use case needs from the app (built per request by the view)."""

    redis: Redis
    keys: Keys
    scripts: Scripts
    settings: Settings
    scorer: SpamScorer
    captchas: CaptchaVerifier
    metrics: Metrics


@dataclass(frozen=True, slots=True)
class Origin:
    """Who submitted: never shown publicly."""

    client: str
    user_agent: str
    lang: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    created: bool  # False: an idempotent replay of an earlier answer


# --------------------------------------------------------------------------- form token
def issue_form_token(secret: bytes, now_ms: int | None = None) -> str:
    """A signed timestamp the form carries, so the submission can tell how long the reader took."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{ms}.{_sign(secret, ms)}"


def _sign(secret: bytes, ms: int) -> str:
    return hmac.new(secret, f"form-token:{ms}".encode(), hashlib.sha256).hexdigest()[:32]


def read_form_token(
    token: str | None, secret: bytes, max_age_s: int, now_ms: int | None = None
) -> tuple[FormToken, float | None]:
    """(state, seconds since the form was shown) — seconds only for a valid token."""
    if not token:
        return FormToken.MISSING, None
    ms_text, _, sig = token.partition(".")
    if not (ms_text.isdigit() and len(ms_text) <= 15 and hmac.compare_digest(sig, _sign(secret, int(ms_text)))):
        return FormToken.INVALID, None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    age_ms = now - int(ms_text)
    if age_ms < -_CLOCK_SKEW_MS:
        return FormToken.INVALID, None
    if age_ms > max_age_s * 1000:
        return FormToken.EXPIRED, None
    return FormToken.VALID, max(age_ms, 0) / 1000.0


# --------------------------------------------------------------------------- helpers
def check_idempotency_key(value: str | None, lang: str) -> str | None:
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise errors.BadRequest(messages.message("invalid_idempotency_key", lang), code="invalid_idempotency_key")
    return value


def _repeat_digest(secret: bytes, client: str, content: str) -> str:
    # Keyed, so the key name reveals neither the address nor the text.
    return hmac.new(secret, f"repeat\n{client}\n{content.casefold()}".encode(), hashlib.sha256).hexdigest()[:32]


async def _replay(deps: Deps, partition: int, key: str, valid: ValidSubmission, lang: str) -> str | None:
    """The id answered before for this Idempotency-Key, if any; a different body is refused."""
    found = await deps.redis.get(deps.keys.idempotency(partition, key))
    if not found:
        return None
    found = str(found)
    stored: Any = await deps.redis.hgetall(deps.keys.comment(deps.keys.partition_of(found), found))
    # Retention may have erased the snapshot; then the key alone decides.
    if stored.get("raw") and intake.raw_snapshot(stored, json.loads(stored["raw"])) != valid.raw:
        raise errors.ValidationFailed(
            [messages.field_error("Idempotency-Key", Code.IDEMPOTENCY_KEY_REUSED, lang)],
            message=messages.message("idempotency_key_reused", lang),
        )
    return found


def _limits(settings: Settings, valid: ValidSubmission, origin: Origin) -> list[admission.Limit]:
    return [
        admission.Limit("submit-client", origin.client, settings.submit_limit_client, settings.submit_window_client),
        admission.Limit(
            "submit-article", valid.article_id, settings.submit_limit_article, settings.submit_window_article
        ),
    ]


async def count_refused(deps: Deps, client: str, lang: str) -> None:
    """A request refused before its checks ran (malformed, wrong type, invalid fields) still counts
    against its client's submission limit: otherwise a flood of bad requests would be the one kind
    never throttled. Once over the limit the answer is 429 instead of the refusal. Good requests
    are counted in their admission round trip; this costs a round trip only on the error path."""
    s = deps.settings
    try:
        await ratelimit.hit(
            deps.redis, deps.scripts, deps.keys, "submit-client", client, s.submit_limit_client, s.submit_window_client
        )
    except errors.RateLimited as exc:
        deps.metrics.submissions.labels("rate_limited").inc()
        wait = exc.retry_after
        raise errors.RateLimited(wait, messages.message("rate_limited", lang, retry_after=wait)) from None
    except Exception as exc:
        if not availability.is_unavailable(exc):
            raise
        # The store is down: the reader still learns what is wrong with the request, not a 503.


def _refuse(deps: Deps, admitted: admission.Admission, lang: str) -> None:
    """The first reason a submission may not go on, as a domain error (bans, then rate limits)."""
    if admitted.banned:
        deps.metrics.submissions.labels("banned").inc()
        # As generic as bans.Banned, in the reader's language.
        raise errors.Forbidden(messages.message("forbidden", lang), code="forbidden")
    if admitted.limited is not None:
        deps.metrics.submissions.labels("rate_limited").inc()
        limit, retry_after = admitted.limited
        if limit.bucket == "submit-client":
            raise errors.RateLimited(retry_after, messages.message("rate_limited", lang, retry_after=retry_after))
        limited = errors.RateLimited(
            retry_after, messages.message("article_rate_limited", lang, retry_after=retry_after)
        )
        limited.code = "article_rate_limited"
        raise limited


def _captcha_failed(deps: Deps, result: VerifyResult, lang: str) -> NoReturn:
    deps.metrics.submissions.labels("captcha_failed").inc()
    if result == VerifyResult.INTERNAL_ERROR:
        raise errors.Unavailable(messages.message("captcha_unavailable", lang), code="captcha_unavailable")
    code = next((c for r, c in _CAPTCHA_CODES.items() if r == result), Code.CAPTCHA_INVALID)
    raise errors.ValidationFailed(
        [messages.field_error("captcha_answer", code, lang)], message=messages.message("validation_failed", lang)
    )


def _repeat_keys(keys: Keys, digest: str) -> list[str]:
    """Every partition's repeat marker of this (client, text) digest: an earlier copy went to its
    own captcha's partition."""
    return [keys.repeat(p, digest) for p in range(keys.partitions)]


def _never_sent(exc: RedisConnectionError | RedisTimeoutError) -> bool:
    """True when the command cannot have reached the store (no connection, or writing it failed):
    nothing ran. Otherwise (a timeout or reset while waiting for the answer) it may have run."""
    text = str(exc)
    return "connecting" in text or ("writing to socket" in text and not text.startswith("Timeout"))


async def _write(
    deps: Deps, comment: intake.NewComment, origin: Origin, submission: intake.WithSubmission
) -> tuple[str, bool]:
    """The submission's one script, run again with the same id while its outcome is unknown."""
    deadline = time.monotonic() + OUTCOME_WAIT_S
    maybe_ran = False
    while True:
        try:
            return await intake.enqueue(
                deps.redis,
                deps.keys,
                deps.scripts,
                comment,
                idempotency_key=origin.idempotency_key,
                idempotency_ttl_s=deps.settings.idempotency_ttl,
                aging_s=deps.settings.queue_aging_seconds,
                submission=submission,
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            maybe_ran = maybe_ran or not _never_sent(exc)
            if not maybe_ran or time.monotonic() >= deadline:
                raise  # 503: nothing written, or (past the deadline) the reader may retry with the same key
            await asyncio.sleep(_OUTCOME_RETRY_S)


async def _replicated(deps: Deps, comment_id: str) -> None:
    """An acknowledgement only once DUYET_REDIS_WAIT_REPLICAS replicas hold the comment (503 else:
    stored, not acknowledged, so counted apart from `accepted`)."""
    s = deps.settings
    partition = deps.keys.partition_of(comment_id)
    try:
        await durability.replicated(deps.redis, deps.keys, partition, s.redis_wait_replicas, s.redis_timeout)
    except errors.Unavailable:
        deps.metrics.submissions.labels("unconfirmed").inc()
        raise


# --------------------------------------------------------------------------- the use case
async def submit(deps: Deps, data: Mapping[str, Any], origin: Origin) -> Accepted:
    """Validate, verify, score, store and enqueue one comment; see the module docstring."""
    lang = origin.lang
    s = deps.settings
    try:
        valid = validate_submission(data, Rules.from_settings(s), lang)
        partition = deps.captchas.partition(valid.captcha_id)
        replayed = None
        if origin.idempotency_key is not None:  # ValidationFailed too: the key reused for another comment
            replayed = await _replay(deps, partition, origin.idempotency_key, valid, lang)
    except errors.ValidationFailed:
        await count_refused(deps, origin.client, lang)  # over the limit: 429, counted as rate_limited
        deps.metrics.submissions.labels("invalid").inc()
        raise
    if replayed is not None:
        await _replicated(deps, replayed)  # a retry of a 503 waits for the copies too
        deps.metrics.submissions.labels("replayed").inc()
        return Accepted(replayed, created=False)
    if not deps.scorer.ready:  # refuse before a wrong answer spends the captcha
        raise errors.Unavailable(messages.message("model_not_ready", lang), retry_after=5, code="model_not_ready")
    prepared = deps.captchas.prepare_check(valid.captcha_id, valid.captcha_answer, valid.article_id)
    digest = _repeat_digest(s.secret_bytes, origin.client, valid.content)
    admitted = await admission.admit(
        deps.redis,
        deps.keys,
        deps.scripts,
        ban_keys=bans.ban_keys(deps.keys, s.secret_bytes, origin.client, valid.phone),
        limits=_limits(s, valid, origin),
        captcha=prepared if isinstance(prepared, Checked) else None,
        repeat_keys=_repeat_keys(deps.keys, digest),
    )
    _refuse(deps, admitted, lang)
    result, checked = deps.captchas.check_result(prepared, admitted.captcha)
    if result != VerifyResult.OK or checked is None:
        _captcha_failed(deps, result, lang)
    repeat_of = admitted.repeat_of

    now_ms = int(time.time() * 1000)
    token_state, seconds = read_form_token(valid.form_token, s.secret_bytes, s.form_token_max_age, now_ms)
    try:
        score = await deps.scorer.score(
            SpamInput(
                name=valid.name,
                title=valid.title,
                content=valid.content,
                had_markup=valid.had_markup,
                seconds_to_submit=seconds,
            )
        )
    except ModelNotReady:
        raise errors.Unavailable(
            messages.message("model_not_ready", lang), retry_after=5, code="model_not_ready"
        ) from None
    signals: dict[str, Any] = {
        "had_markup": valid.had_markup,
        "had_invisible": valid.had_invisible,
        "honeypot": bool(valid.website),
        "form_token": str(token_state),
        "seconds_to_submit": seconds,
        "too_fast": seconds is not None and seconds < s.min_seconds_to_submit,
        "repeat_of": repeat_of,
    }
    comment = intake.NewComment(
        id=new_comment_id(deps.keys, partition, now_ms),
        article_id=valid.article_id,
        name=valid.name,
        phone=valid.phone,
        title=valid.title,
        content=valid.content,
        raw=valid.raw,
        client=origin.client,
        user_agent=origin.user_agent[:USER_AGENT_MAX],
        created_at_ms=now_ms,
        spam_probability=float(score.probability),
        verdict=str(score.verdict),
        reasons=[{"code": r.code, "vi": r.vi, "en": r.en, "terms": list(r.terms)} for r in score.reasons],
        model_version=score.model_version,
        signals=signals,
        lang=lang,
    )
    with_submission = intake.WithSubmission(
        captcha_key=checked.key,
        captcha_digest=checked.digest,
        repeat_key=deps.keys.repeat(partition, digest),
        repeat_ttl_s=s.repeat_window,
    )
    try:
        cid, created = await _write(deps, comment, origin, with_submission)
    except intake.CaptchaGone:  # a concurrent submission with the same captcha won
        _captcha_failed(deps, VerifyResult.TIMEOUT_OR_DUPLICATE, lang)
    except intake.CaptchaWrong:
        _captcha_failed(deps, VerifyResult.INVALID_INPUT_RESPONSE, lang)
    if created:  # stored (and its captcha spent), whether or not its copies are confirmed next
        deps.captchas.consumed()
        deps.metrics.spam_scores.observe(score.probability)
    await _replicated(deps, cid)
    deps.metrics.submissions.labels("accepted" if created else "replayed").inc()
    return Accepted(cid, created)
