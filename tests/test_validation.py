"""Field rules of a submission: normalisation, every rule's code, both languages, form tokens."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from service import errors
from service.comments.submission import FormToken, issue_form_token, read_form_token
from service.comments.validation import Rules, check_article_id, submission_model, validate_submission

RULES = Rules()
SECRET = b"s" * 40


def form(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "article_id": "ha-noi/2024:123",
        "name": "Nguyễn Văn An",
        "phone": "",
        "title": "Ý kiến về dự án",
        "content": "Tôi đồng ý với bài viết này.",
        "captcha_id": "abc",
        "captcha_answer": "X7K2M",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not ...}


def codes(data: dict[str, Any], lang: str = "vi", rules: Rules = RULES) -> dict[str, str]:
    with pytest.raises(errors.ValidationFailed) as info:
        validate_submission(data, rules, lang)
    return {e["field"]: e["code"] for e in info.value.errors}


def test_a_valid_form_passes_normalised() -> None:
    """A good submission passes with its text normalised and nothing flagged."""
    valid = validate_submission(form(name="  Nguyễn   Văn An "), RULES, "vi")
    assert valid.name == "Nguyễn Văn An"
    assert valid.phone is None
    assert not valid.had_markup and not valid.had_invisible


def test_composed_and_decomposed_names_are_identical() -> None:
    """A Vietnamese name in NFD (decomposed) is stored exactly like its NFC form."""
    nfc = unicodedata.normalize("NFC", "Trần Thị Hồng Nhung")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    a = validate_submission(form(name=nfc, title=nfd, content=nfd), RULES, "vi")
    b = validate_submission(form(name=nfd, title=nfc, content=nfc), RULES, "vi")
    assert a.name == b.name == nfc
    assert a.title == b.title == a.content == nfc


def test_every_broken_field_at_once_in_vietnamese() -> None:
    """All broken fields are reported together, with Vietnamese messages by default."""
    with pytest.raises(errors.ValidationFailed) as info:
        validate_submission({"name": "A", "phone": "12", "title": "", "content": "hi"}, RULES, "vi")
    errs = info.value.errors
    assert [(e["field"], e["code"]) for e in errs] == [
        ("article_id", "required"),
        ("name", "too_short"),
        ("phone", "invalid_phone"),
        ("title", "required"),
        ("content", "too_short"),
        ("captcha_id", "required"),
        ("captcha_answer", "required"),
    ]
    by_field = {e["field"]: e["message"] for e in errs}
    assert by_field["name"] == "Họ tên phải có ít nhất 2 ký tự."
    assert by_field["title"] == "Tiêu đề là bắt buộc."


def test_messages_in_english() -> None:
    """With lang 'en' the same codes come with English messages."""
    with pytest.raises(errors.ValidationFailed) as info:
        validate_submission(form(name="A", content="x" * 5001), RULES, "en")
    by_field = {e["field"]: e for e in info.value.errors}
    assert by_field["name"]["message"] == "Name must be at least 2 characters long."
    assert by_field["content"]["code"] == "too_long"
    assert by_field["content"]["message"] == "Content must be at most 5000 characters long."


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("A", "too_short"),
        ("A" * 81, "too_long"),
        ("An123", "invalid_characters"),
        ("Lan <3", "invalid_characters"),
        ("...", "invalid_characters"),
        ("www.bet88", "contains_url"),
        ("nhacai.com", "contains_url"),
        ("http:", "contains_url"),
    ],
)
def test_name_rules(name: str, code: str) -> None:
    """Names: 2-80 characters, letters with spaces and . ' -, not a link."""
    assert codes(form(name=name))["name"] == code


@pytest.mark.parametrize(
    "name", ["Lê Thị Ánh", "J. R. R. Tolkien", "O'Brien", "Jean-Luc", "王小明", "Đặng Đức", "Мария"]
)
def test_names_of_any_script_pass(name: str) -> None:
    """Letters of any script pass, with the allowed punctuation."""
    assert validate_submission(form(name=name), RULES, "vi").name == name


def test_phone_is_stored_as_e164() -> None:
    """A Vietnamese number in local form is stored as E.164; other regions with +."""
    assert validate_submission(form(phone="0912 345 678"), RULES, "vi").phone == "+84912345678"
    assert validate_submission(form(phone="+44 20 7946 0958"), RULES, "vi").phone == "+442079460958"


@pytest.mark.parametrize("phone", ["12345", "0912", "abc", "+84 000 000 000", "0" * 20])
def test_invalid_phones(phone: str) -> None:
    """A phone number must parse and be a valid number."""
    assert codes(form(phone=phone))["phone"] == "invalid_phone"


@pytest.mark.parametrize(
    ("title", "content", "expected"),
    [
        ("ab", "hello world", {"title": "too_short"}),
        ("a" * 151, "hello world", {"title": "too_long"}),
        ("abc", "hey", {"content": "too_short"}),
        ("abc", "x" * 5001, {"content": "too_long"}),
        ("   ", "\u200b\u200b", {"title": "required", "content": "required"}),
    ],
)
def test_title_and_content_lengths(title: str, content: str, expected: dict[str, str]) -> None:
    """Title 3-150 and content 5-5000 characters, counted after normalisation."""
    assert codes(form(title=title, content=content)) == expected


@pytest.mark.parametrize(
    ("article_id", "code"),
    [("a b", "invalid_characters"), ("bài-viết", "invalid_characters"), ("a" * 129, "too_long"), ("", "required")],
)
def test_article_id_rules(article_id: str, code: str) -> None:
    """article_id: 1-128 of A-Z a-z 0-9 . _ : / -"""
    assert codes(form(article_id=article_id))["article_id"] == code
    if article_id:
        with pytest.raises(errors.ValidationFailed) as info:
            check_article_id(article_id, "en")
        assert info.value.errors[0]["code"] == code


def test_non_string_values_are_invalid_type() -> None:
    """A JSON number or list where text belongs is reported, not coerced."""
    assert codes(form(name=123, content=["x"])) == {"name": "invalid_type", "content": "invalid_type"}


def test_markup_is_stripped_and_flagged() -> None:
    """Markup becomes plain text and its presence is kept as a signal."""
    valid = validate_submission(form(content="<b>Hay</b> quá <a href='http://x.vn'>link</a>"), RULES, "vi")
    assert valid.content == "Hay quá link"
    assert valid.had_markup


def test_invisible_and_control_characters_removed() -> None:
    """Zero-width, bidi-override and control characters are removed; lines kept in content only."""
    valid = validate_submission(
        form(name="An\u200b\u202e Bình", title="Tiêu\tđề\nmột dòng", content="Dòng 1\x00\n\n\n\nDòng 2  "),
        RULES,
        "vi",
    )
    assert valid.name == "An Bình"
    assert valid.title == "Tiêu đề một dòng"
    assert valid.content == "Dòng 1\n\nDòng 2"
    assert valid.had_invisible


def test_raw_snapshot_is_what_was_typed() -> None:
    """The raw snapshot keeps the submitted text as typed (not the captcha), for retraining and the
    record; it is shown to moderators through `presentation.moderator_comment` (tests/test_presentation.py)."""
    valid = validate_submission(form(name=" An\u200b ", website=""), RULES, "vi")
    assert valid.raw["name"] == " An\u200b "
    assert "captcha_answer" not in valid.raw


@pytest.mark.parametrize(
    "hidden",
    ["\U000e0063\U000e0061\U000e0073", "\ufff9x\ufffa\ufffb", "\U000e0100" * 60, "\u0301" * 70],
    ids=["tag-characters", "interlinear-annotation", "variation-selectors", "combining-marks"],
)
def test_hidden_text_is_removed_and_flagged_in_every_field(hidden: str) -> None:
    """Tag characters, interlinear annotations, a flood of variation selectors or of combining
    marks: removed (marks cut to a few per letter) and flagged, in name, title and content alike
    (they used to pass unflagged)."""
    for field in ("name", "title", "content"):
        base = form()[field]
        valid = validate_submission(form(**{field: base + hidden}), RULES, "vi")
        stored = getattr(valid, field)
        assert valid.had_invisible, field
        assert len(stored) <= len(base) + 4, (field, len(stored))
        assert not any(0xE0000 <= ord(ch) <= 0xE01EF or 0xFFF9 <= ord(ch) <= 0xFFFB for ch in stored)


def test_rules_are_configurable_and_in_the_schema() -> None:
    """Other limits change both the checks and the generated JSON schema."""
    rules = Rules(name_min=5, content_max=20)
    assert codes(form(name="Lan", content="x" * 21), rules=rules) == {"name": "too_short", "content": "too_long"}
    schema = submission_model(rules).model_json_schema()
    assert schema["properties"]["name"]["minLength"] == 5
    assert schema["properties"]["content"]["maxLength"] == 20
    assert set(schema["required"]) == {"article_id", "name", "title", "content", "captcha_id", "captcha_answer"}


def test_form_token_roundtrip() -> None:
    """A form token tells the seconds since it was issued; tampered, future or old ones are not trusted."""
    token = issue_form_token(SECRET, now_ms=1_000_000)
    assert read_form_token(token, SECRET, 3600, now_ms=1_004_500) == (FormToken.VALID, 4.5)
    assert read_form_token(None, SECRET, 3600)[0] is FormToken.MISSING
    assert read_form_token(token, b"other" * 10, 3600, now_ms=1_004_500)[0] is FormToken.INVALID
    assert read_form_token("1000000.bad", SECRET, 3600, now_ms=1_004_500)[0] is FormToken.INVALID
    assert read_form_token(token, SECRET, 3600, now_ms=1_000_000 + 3601_000)[0] is FormToken.EXPIRED
    assert read_form_token(token, SECRET, 3600, now_ms=1_000_000 - 60_000)[0] is FormToken.INVALID
