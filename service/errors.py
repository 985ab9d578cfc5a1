"""Domain errors. The core raises these; only `service.http.web` turns them into HTTP responses.

Each carries a stable machine `code` and an English `message`; domain modules subclass the
kind that fits (a missing captcha is a `NotFound`), and the edge maps kinds to statuses.
"""

from __future__ import annotations

from typing import Any


class DuyetError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class BadRequest(DuyetError):
    code = "bad_request"


class ValidationFailed(DuyetError):
    """Every field error at once: `errors` is a list of {field, code, message}."""

    code = "validation_failed"

    def __init__(self, errors: list[dict[str, str]], message: str = "some fields are invalid") -> None:
        super().__init__(message)
        self.errors = errors


class Unauthorized(DuyetError):
    code = "unauthorized"


class Forbidden(DuyetError):
    code = "forbidden"


class NotFound(DuyetError):
    code = "not_found"


class Conflict(DuyetError):
    """A lost race or a stale version: a normal outcome, reported with the current state."""

    code = "conflict"


class PayloadTooLarge(DuyetError):
    code = "payload_too_large"


class UnsupportedMediaType(DuyetError):
    code = "unsupported_media_type"


class RateLimited(DuyetError):
    code = "rate_limited"

    def __init__(self, retry_after: int, message: str = "too many requests, try again later") -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Unavailable(DuyetError):
    """A dependency (the store, the model) cannot serve right now; the client should retry."""

    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 2, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
