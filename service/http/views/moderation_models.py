"""The moderation API's request bodies, query strings and answers, as pydantic models.

`moderation.py` validates with these (service.http.bodies) and /openapi.json shows them, so the
two cannot disagree. Limits that are settings (claim size, bulk size) make a model per app.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

from service.http import bodies
from service.review import bans
from service.review.accounts import NAME_RE
from service.review.moderators import Role
from service.review.reading import Order
from service.review.states import Action, RejectReason, State

LIST_DEFAULT, LIST_MAX = 20, 100
NOTE_MAX = 1000

# Clients send "" or null for "not given"; both mean the same.
Blank = BeforeValidator(lambda value: None if value == "" else value)
Version = Annotated[int, Field(ge=1, le=2**53, description="The comment's version as you saw it; stale is a 409")]
Note = Annotated[
    str, BeforeValidator(lambda value: value or ""), Field(max_length=NOTE_MAX, description="For the audit trail")
]


# --------------------------------------------------------------------------- requests
class QueueQuery(BaseModel):
    state: State = State.PENDING
    order: Order = Field(Order.PRIORITY, description="priority: spammiest and oldest first; age: oldest first")
    article_id: bodies.ArticleId | None = None
    min_score: float | None = Field(None, description="Lowest spam probability")
    max_score: float | None = Field(None, description="Highest spam probability")
    limit: int = Field(LIST_DEFAULT, ge=1, le=LIST_MAX)
    cursor: bodies.Cursor | None = None


class ClaimRequest(bodies.Body):
    limit: int = Field(1, ge=1, description="How many comments to claim")


@lru_cache
def claim_request(max_claim: int) -> type[ClaimRequest]:
    """`ClaimRequest` with the configured largest claim."""
    return create_model(
        "ClaimRequest",
        __base__=ClaimRequest,
        limit=(int, Field(1, ge=1, le=max_claim, description="How many comments to claim")),
    )


class Decision(bodies.Body):
    # The rule across fields, for the document as well (OpenAPI 3.1 is JSON Schema): to reject, a reason.
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "if": {"properties": {"action": {"const": Action.REJECT.value}}, "required": ["action"]},
            "then": {"required": ["reason"], "properties": {"reason": {"enum": [r.value for r in RejectReason]}}},
        },
    )

    action: Action
    reason: Annotated[RejectReason | None, Blank] = Field(None, description="Why it is rejected (required to reject)")
    version: Version
    note: Note = ""

    @model_validator(mode="after")
    def _reason_to_reject(self) -> Self:
        if self.action is Action.REJECT and self.reason is None:
            raise bodies.refuse("reason_required", "a rejection needs a reason", "reason")
        return self


class DecisionItem(Decision):
    id: str = Field(description="The comment's id")


class DecisionsRequest(bodies.Body):
    decisions: list[dict[str, Any]] = Field(
        min_length=1, description="Each a DecisionItem; an invalid one gets a 400 result of its own"
    )


@lru_cache
def decisions_request(bulk_limit: int) -> type[DecisionsRequest]:
    """`DecisionsRequest` with the configured largest batch."""
    return create_model(
        "DecisionsRequest",
        __base__=DecisionsRequest,
        decisions=(
            list[dict[str, Any]],
            Field(
                min_length=1, max_length=bulk_limit, description=DecisionsRequest.model_fields["decisions"].description
            ),
        ),
    )


class VersionRequest(bodies.Body):
    version: Annotated[Version | None, Blank] = Field(None, description="Refuse (409) if the comment changed since")


class ReopenRequest(VersionRequest):
    note: Note = ""


class BanRequest(bodies.Body):
    # The rule across fields, for the document as well: a value, or the comment whose author it bans.
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "anyOf": [
                {"required": [field], "properties": {field: {"type": "string", "minLength": 1}}}
                for field in ("value", "comment_id")
            ]
        },
    )

    kind: bans.BanKind
    value: Annotated[str | None, Blank] = Field(None, description="The address, network or phone number")
    comment_id: Annotated[str | None, Blank] = Field(None, description="Ban the author of this comment instead")
    ttl_seconds: int = Field(ge=1, le=bans.MAX_TTL_S)
    reason: Annotated[str, BeforeValidator(lambda value: value or "")] = ""

    @model_validator(mode="after")
    def _value_or_comment(self) -> Self:
        if self.value is None and self.comment_id is None:
            raise bodies.refuse("invalid_parameter", "give value or comment_id", "value")
        return self


class BanPath(BaseModel):
    kind: bans.BanKind
    value: str = Field(description="As listed")


class ModeratorRequest(bodies.Body):
    name: str = Field(
        description="2-32 of a-z 0-9 _ . - starting with a letter or digit",
        json_schema_extra={"pattern": NAME_RE.pattern},  # checked by service.review.accounts (invalid_name)
    )
    role: Role = Role.MODERATOR


# --------------------------------------------------------------------------- answers
class Page(BaseModel):
    items: list[dict[str, Any]] = Field(description="Comments, personal data masked")
    next_cursor: str | None


class Claimed(BaseModel):
    items: list[dict[str, Any]] = Field(description="Comments with version and lease_until")
    lease_seconds: int


class Outcome(BaseModel):
    id: str
    state: State
    version: int
    at: str | None = Field(description="ISO 8601, UTC")


class Renewed(BaseModel):
    id: str
    state: State
    version: int
    lease_until: int = Field(description="Epoch milliseconds")
    lease_until_iso: str | None


class Results(BaseModel):
    results: list[dict[str, Any]] = Field(
        description="Per decision: status (200, 400, 404, 409...) and outcome or error"
    )


class Items(BaseModel):
    items: list[dict[str, Any]]


class Done(BaseModel):
    status: str


class Token(BaseModel):
    name: str
    token: str = Field(description="Shown once")
