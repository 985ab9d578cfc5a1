"""The comment form's fields: normalise, check every rule, report every broken field at once.

The rules live in one pydantic model per rule set (`submission_model(rules)`), built from the
settings; the same model validates submissions and generates the OpenAPI schema, so the two can
never disagree. Text is normalised (`service.text.normalise`: NFC, invisible and control
characters removed, markup stripped, spaces tidied) *before* the rules run, so lengths count
what is stored, and a name typed in decomposed Unicode is stored exactly like a composed one.

Each pydantic error becomes `{field, code, message}` with a stable code (see `service.comments.messages`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model
from pydantic_core import PydanticCustomError

from service import errors
from service.articles import ARTICLE_ID_MAX, ARTICLE_ID_PATTERN
from service.comments import messages
from service.settings import Settings
from service.text import normalise, phone_e164


class Code(StrEnum):
    """Stable field error codes (clients switch on these)."""

    REQUIRED = "required"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID_CHARACTERS = "invalid_characters"
    INVALID_TYPE = "invalid_type"
    CONTAINS_URL = "contains_url"
    INVALID_PHONE = "invalid_phone"
    OUT_OF_RANGE = "out_of_range"
    CAPTCHA_INVALID = "captcha_invalid"
    CAPTCHA_EXPIRED = "captcha_expired"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"


# A name may hold letters of any script (and their combining marks), spaces and . ' - (and ’).
_NAME_PUNCT = frozenset(" .'-’")
# A domain-looking token: "abc.com", "www.x", "shop.vn/abc". Names like "J. R. Tolkien" don't match.
_URL_IN_NAME = re.compile(
    r"(?i)(?:https?:|www\.|[\w-]+\.(?:com|net|org|vn|info|xyz|top|club|io|me|biz|site|online|store|vip|win|bet|"
    r"ly|link|shop|app|live|fun|asia|tk|cc|tv|click|pro|us|uk|ru)\b)"
)
# Text fields and whether they keep line breaks.
TEXT_FIELDS = {"name": False, "title": False, "content": True}
ONE_LINE_FIELDS = ("article_id", "phone", "captcha_id", "captcha_answer", "form_token")
# What the raw snapshot keeps (what the reader typed; never the captcha).
RAW_FIELDS = ("article_id", "name", "phone", "title", "content", "website")


@dataclass(frozen=True, slots=True)
class Rules:
    name_min: int = 2
    name_max: int = 80
    title_min: int = 3
    title_max: int = 150
    content_min: int = 5
    content_max: int = 5000
    phone_region: str = "VN"

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            name_min=settings.name_min_length,
            name_max=max(settings.name_max_length, settings.name_min_length),
            title_min=settings.title_min_length,
            title_max=max(settings.title_max_length, settings.title_min_length),
            content_min=settings.content_min_length,
            content_max=max(settings.content_max_length, settings.content_min_length),
            phone_region=settings.phone_region,
        )


def _check_name(value: str) -> str:
    if _URL_IN_NAME.search(value):
        raise PydanticCustomError(Code.CONTAINS_URL, "a name must not contain a link")
    if not any(ch.isalpha() for ch in value) or any(
        ch not in _NAME_PUNCT and unicodedata.category(ch)[0] not in "LM" for ch in value
    ):
        raise PydanticCustomError(Code.INVALID_CHARACTERS, "a name may contain only letters, spaces and . ' -")
    return value


def _phone_checker(region: str) -> AfterValidator:
    def check(value: str) -> str:
        e164 = phone_e164(value, region)
        if e164 is None:
            raise PydanticCustomError(Code.INVALID_PHONE, "not a valid phone number")
        return e164

    return AfterValidator(check)


@functools.lru_cache(maxsize=16)
def submission_model(rules: Rules) -> type[BaseModel]:
    """The submission schema for one rule set (lengths count characters after normalisation)."""
    base = ConfigDict(extra="ignore", title="CommentSubmission")
    fields: dict[str, Any] = {
        "article_id": (
            Annotated[
                str,
                Field(
                    min_length=1,
                    max_length=ARTICLE_ID_MAX,
                    pattern=ARTICLE_ID_PATTERN,
                    description="The article the comment is about: 1-128 of A-Z a-z 0-9 . _ : / -",
                    examples=["ha-noi/2024/12345"],
                ),
            ],
            ...,
        ),
        "name": (
            Annotated[
                str,
                Field(
                    min_length=rules.name_min,
                    max_length=rules.name_max,
                    description=(
                        f"Họ tên: {rules.name_min}-{rules.name_max} characters; letters of any script, "
                        "spaces and . ' - ; not a link"
                    ),
                    examples=["Nguyễn Văn An"],
                ),
                AfterValidator(_check_name),
            ],
            ...,
        ),
        "phone": (
            Annotated[
                str,
                StringConstraints(max_length=32),
                _phone_checker(rules.phone_region),
            ]
            | None,
            Field(
                None,
                description=f"Số điện thoại, optional; a valid number (default region {rules.phone_region}), "
                "stored as E.164; never shown publicly",
                examples=["0912 345 678"],
            ),
        ),
        "title": (
            Annotated[
                str,
                Field(
                    min_length=rules.title_min,
                    max_length=rules.title_max,
                    description=f"Tiêu đề: {rules.title_min}-{rules.title_max} characters, one line",
                    examples=["Ý kiến về dự án"],
                ),
            ],
            ...,
        ),
        "content": (
            Annotated[
                str,
                Field(
                    min_length=rules.content_min,
                    max_length=rules.content_max,
                    description=f"Nội dung: {rules.content_min}-{rules.content_max} characters; markup is "
                    "stripped to plain text",
                    examples=["Tôi đồng ý với bài viết này."],
                ),
            ],
            ...,
        ),
        "captcha_id": (
            Annotated[str, Field(min_length=1, max_length=128, description="The id from POST /v1/captchas")],
            ...,
        ),
        "captcha_answer": (
            Annotated[str, Field(min_length=1, max_length=32, description="Mã xác nhận: the code the reader read")],
            ...,
        ),
        "website": (
            str | None,
            Field(None, description="Leave empty: a field hidden from people (filled in, it flags the comment)"),
        ),
        "form_token": (
            str | None,
            Field(None, description="The token from GET /v1/form-token, when the form was shown"),
        ),
    }
    model: type[BaseModel] = create_model("CommentSubmission", __config__=base, **fields)
    return model


@dataclass(frozen=True, slots=True)
class ValidSubmission:
    """A submission whose every field passed, normalised, with what normalisation noticed."""

    article_id: str
    name: str
    phone: str | None
    title: str
    content: str
    captcha_id: str
    captcha_answer: str
    website: str
    form_token: str | None
    had_markup: bool
    had_invisible: bool
    raw: dict[str, str] = field(default_factory=dict)


_CODES_BY_PYDANTIC_TYPE = {
    "missing": Code.REQUIRED,
    "string_type": Code.INVALID_TYPE,
    "string_too_short": Code.TOO_SHORT,
    "string_too_long": Code.TOO_LONG,
    "string_pattern_mismatch": Code.INVALID_CHARACTERS,
}


def _prepare(data: Mapping[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """Normalise the string fields; empty ones count as missing. Non-strings pass to the rules as-is."""
    out: dict[str, Any] = {}
    had_markup = had_invisible = False
    for name, value in data.items():
        if not isinstance(value, str):
            if value is not None:
                out[name] = value
            continue
        if name in TEXT_FIELDS:
            norm = normalise(value, multiline=TEXT_FIELDS[name])
            had_markup |= norm.had_markup
            had_invisible |= norm.had_invisible
            value = norm.text
        elif name in ONE_LINE_FIELDS:
            value = normalise(value).text
        if value != "" or name == "website":
            out[name] = value
    return out, had_markup, had_invisible


def field_errors(exc: ValidationError, lang: str) -> list[dict[str, str]]:
    """pydantic's errors as our `{field, code, message}` list, one entry per field, in form order."""
    seen: dict[str, dict[str, str]] = {}
    for err in exc.errors(include_url=False):
        loc = [part for part in err["loc"] if isinstance(part, str)]
        name = loc[0] if loc else "body"
        if name in seen:
            continue
        code = _CODES_BY_PYDANTIC_TYPE.get(err["type"], err["type"])
        ctx = err.get("ctx") or {}
        seen[name] = messages.field_error(
            name, code, lang, min=ctx.get("min_length", ""), max=ctx.get("max_length", "")
        )
    order = ["article_id", "name", "phone", "title", "content", "captcha_id", "captcha_answer"]
    return sorted(seen.values(), key=lambda e: order.index(e["field"]) if e["field"] in order else len(order))


def validate_submission(data: Mapping[str, Any], rules: Rules, lang: str) -> ValidSubmission:
    """Normalise and check every field; raise ValidationFailed listing every broken one."""
    prepared, had_markup, had_invisible = _prepare(data)
    model = submission_model(rules)
    try:
        parsed = model.model_validate(prepared)
    except ValidationError as exc:
        raise errors.ValidationFailed(
            field_errors(exc, lang), message=messages.message("validation_failed", lang)
        ) from None
    values = parsed.model_dump()
    # What the reader typed, for the moderator's eyes: markup escaped, hidden characters spelled out.
    raw = {name: data[name] for name in RAW_FIELDS if isinstance(data.get(name), str)}
    return ValidSubmission(
        article_id=values["article_id"],
        name=values["name"],
        phone=values["phone"],
        title=values["title"],
        content=values["content"],
        captcha_id=values["captcha_id"],
        captcha_answer=values["captcha_answer"],
        website=values["website"] or "",
        form_token=values["form_token"],
        had_markup=had_markup,
        had_invisible=had_invisible,
        raw=raw,
    )


def check_article_id(value: str, lang: str) -> str:
    """The article id of a URL path, by the same rule as the form's field."""
    if not value:
        code = Code.REQUIRED
    elif len(value) > ARTICLE_ID_MAX:
        code = Code.TOO_LONG
    elif not re.fullmatch(ARTICLE_ID_PATTERN, value):
        code = Code.INVALID_CHARACTERS
    else:
        return value
    raise errors.ValidationFailed(
        [messages.field_error("article_id", code, lang, max=ARTICLE_ID_MAX)],
        message=messages.message("validation_failed", lang),
    )
