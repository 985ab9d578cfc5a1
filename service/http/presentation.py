"""How the queue's comments look in responses: the public shape (what a reader may see) and the
moderator shape (typed fields, personal data masked unless an admin reads one comment).

The review package returns what it stored; shaping it for an audience happens here, at the edge.
Times are epoch milliseconds in the store and show as ISO 8601 next to the number.
"""

from __future__ import annotations

import json
import time
from typing import Any

from service.review.intake import raw_snapshot, signals_of
from service.review.transitions import TransitionOutcome
from service.text import reveal

PUBLIC_FIELDS = ("id", "name", "title", "content", "created_at")

_JSON_FIELDS = ("raw", "reasons", "signals")
_INT_FIELDS = ("version", "created_at", "updated_at", "lease_until", "decided_at", "pii_erased_at")
_TIME_FIELDS = ("created_at", "updated_at", "lease_until", "decided_at")
# Personal data: shown to admins on a single comment only (moderators see a masked phone).
_PII_FIELDS = ("phone", "client", "user_agent")


def iso_ms(ms: int | str | None) -> str | None:
    """Epoch milliseconds as an ISO 8601 UTC timestamp (what every response shows)."""
    if ms in (None, ""):
        return None
    value = int(ms)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(value // 1000)) + f".{value % 1000:03d}Z"


def mask_phone(phone: str | None) -> str | None:
    """+84912345678 -> '+84 9** *** 678': enough to tell numbers apart, not to call them."""
    if not phone:
        return None
    digits = phone.lstrip("+")
    if len(digits) < 7:
        return "***"
    cc = digits[:2] if phone.startswith("+") else ""
    rest = digits[len(cc) :]
    masked = rest[0] + "*" * (len(rest) - 4) + rest[-3:]
    body = f"{masked[:3]} {masked[3:-3]} {masked[-3:]}".replace("  ", " ")
    return f"+{cc} {body}" if cc else body


def public_comment(item: dict[str, Any]) -> dict[str, Any]:
    """An approved comment as readers see it (`review.reading.list_approved` rows): never the phone."""
    shown = {k: item.get(k) for k in PUBLIC_FIELDS}
    shown["created_at"] = iso_ms(shown["created_at"])
    return shown


def moderator_comment(raw: dict[str, str], *, full_pii: bool = False) -> dict[str, Any]:
    """A comment hash as a moderator response: typed fields, personal data masked unless `full_pii`."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ("log", "priority"):
            continue
        if name in _JSON_FIELDS:
            try:
                out[name] = json.loads(value)
            except ValueError:
                out[name] = value
        elif name in _INT_FIELDS:
            out[name] = int(value) if value else None
        elif name == "spam_probability":
            out[name] = float(value)
        else:
            out[name] = value if value != "" else None
    for name in _TIME_FIELDS:
        if out.get(name) is not None:
            out[name + "_iso"] = iso_ms(out[name])
    if isinstance(out.get("raw"), dict):
        out["raw"] = raw_snapshot(raw, out["raw"])
    if isinstance(out.get("signals"), dict):
        out["signals"] = signals_of(out["signals"])
    if not full_pii:
        out["phone"] = mask_phone(out.get("phone"))
        out.pop("client", None)
        out.pop("user_agent", None)
        if isinstance(out.get("raw"), dict):
            out["raw"] = {k: v for k, v in out["raw"].items() if k not in _PII_FIELDS}
    if isinstance(out.get("raw"), dict):
        # Stored as typed (for retraining and the record); shown with markup escaped and hidden
        # characters spelled out, so nothing in it can run, reorder a page or cut a string short.
        out["raw"] = {k: reveal(v) if isinstance(v, str) else v for k, v in out["raw"].items()}
    out["has_phone"] = bool(raw.get("phone"))
    return out


def audit_trail(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A comment's audit entries (`review.reading.history`), each with its time as ISO 8601."""
    return [{**entry, "at_iso": iso_ms(entry.get("at"))} for entry in entries]


def sender_comments(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A sender's other comments (`review.undo.same_sender`), each with its time as ISO 8601."""
    return [{**row, "created_at_iso": iso_ms(row["created_at"])} for row in rows]


def outcome(o: TransitionOutcome) -> dict[str, Any]:
    """What a decision, release, reopen or undo answers: the state the comment is now in."""
    return {"id": o.id, "state": o.state.value, "version": o.version, "at": iso_ms(o.at_ms)}
