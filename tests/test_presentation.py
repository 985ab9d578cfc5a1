"""What moderators are shown of a stored comment."""

from __future__ import annotations

import json

from service.http.presentation import moderator_comment


def test_the_raw_snapshot_is_shown_escaped_with_hidden_characters_spelled_out() -> None:
    """Markup, bidi overrides and NUL typed by a reader reach the moderator JSON as visible text:
    escaped markup and [U+XXXX], never as the characters themselves (the store keeps them as typed)."""
    typed = {"name": " An\u200b ", "content": "<b>x</b>\u202e\x00 hay quá", "phone": "0911222333"}
    shown = moderator_comment({"id": "c1", "raw": json.dumps(typed), "phone": "+84911222333"})
    assert shown["raw"]["name"] == " An[U+200B] "
    assert shown["raw"]["content"] == "&lt;b&gt;x&lt;/b&gt;[U+202E][U+0000] hay quá"
    assert "phone" not in shown["raw"]  # personal data stays masked
    assert not any(ch in json.dumps(shown, ensure_ascii=False) for ch in "\u200b\u202e\x00<")
