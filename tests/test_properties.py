"""Properties of normalisation and validation over generated input (hypothesis, seeded).

What must hold for any text a reader can send, not just the examples in test_text.py and
test_validation.py: normalising twice is normalising once (the model is trained on stored,
normalised text and served freshly normalised text: they must be the same), nothing invisible,
bidi or control survives, a valid phone comes back as its E.164 form whichever way it was typed,
and validation answers anything with its own error naming the broken fields, never a crash.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import phonenumbers
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from service import errors
from service.comments.validation import RAW_FIELDS, Rules, validate_submission
from service.text import _INVISIBLE, _MARKUP, MAX_MARKS, normalise, phone_e164, reveal

SETTINGS = settings(
    max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# What spammers and broken clients send, over-represented: invisible and bidi characters,
# controls, combining marks, markup and entities, line breaks, Vietnamese letters.
TRICKY = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
    "\U000e0041\U000e007f\U000e0100\ufff9\ufffa\ufffb\ufe0f"
    "\x00\x01\x07\x1b\x7f\x85\x9f\t\n\r"
    "\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b"
    "<>&;#/[]=\"' .-’"
    "aAeEoOuUyđĐăâêôơưáàảãạ"
)
tricky_text = st.text(
    alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8")), max_size=60
) | st.lists(
    st.sampled_from(
        [
            "<b>",
            "</b>",
            "<br>",
            "&lt;",
            "&gt;",
            "&amp;",
            "&#60;",
            "[url]",
            "<script>x</script>",
            "<p>",
            "\u200b",
            "\u202e",
            "a\u0301",
            "\u0301" * 6,
            "\x00",
            "\r\n",
            " ",
            "Tôi",
            "x",
        ]
    ),
    max_size=12,
).map("".join)

# Format characters (bidi, zero-width, tags: category Cf), controls (Cc) but newline and tab,
# private use and unassigned code points never reach storage.
HIDDEN_CATEGORIES = ("Cf", "Cc")


def _hidden(ch: str) -> bool:
    return (unicodedata.category(ch) in HIDDEN_CATEGORIES and ch not in "\n\t") or bool(_INVISIBLE.match(ch))


@SETTINGS
@given(raw=tricky_text, multiline=st.booleans())
@example(raw="a\u200b\u0301", multiline=False)  # a mark meeting its letter once the zero-width goes
@example(raw="\u0300\u0300\u0300\u0300<A>\u0300", multiline=False)  # two runs of marks joined by a tag's removal
def test_normalising_twice_is_normalising_once(raw: str, multiline: bool) -> None:
    """Except for markup the reader escaped: "&lt;br&gt;" is stored as the text "<br>" (as typed,
    test_text.py::test_inline_tags_and_escaped_tags), which a second pass would take for a tag."""
    once = normalise(raw, multiline=multiline)
    assume(not (once.had_markup and _MARKUP.search(once.text)))
    twice = normalise(once.text, multiline=multiline)
    assert twice.text == once.text
    assert not twice.had_invisible


@SETTINGS
@given(raw=tricky_text, multiline=st.booleans())
def test_nothing_hidden_survives_normalisation(raw: str, multiline: bool) -> None:
    """No control, format (bidi, zero-width, tag) or invisible character in what is stored, no
    run of more than MAX_MARKS combining marks, NFC, and a newline only in multi-line fields."""
    text = normalise(raw, multiline=multiline).text
    assert not any(_hidden(ch) for ch in text), [hex(ord(ch)) for ch in text if _hidden(ch)]
    assert unicodedata.is_normalized("NFC", text)
    run = 0
    for ch in text:
        run = run + 1 if unicodedata.category(ch).startswith("M") else 0
        assert run <= MAX_MARKS
    if not multiline:
        assert "\n" not in text and text == text.strip()


@SETTINGS
@given(raw=tricky_text)
def test_the_raw_snapshot_hides_nothing_and_runs_nothing(raw: str) -> None:
    """What a moderator sees of what was typed: no character that could reorder or hide text, no
    markup that could run (every < > & " ' escaped)."""
    shown = reveal(raw)
    assert not any(_hidden(ch) for ch in shown)
    assert "<" not in shown and ">" not in shown and '"' not in shown and "'" not in shown


# Vietnamese mobile numbers (prefixes of the current plan) written the ways readers write them.
vn_mobiles = st.builds(
    lambda prefix, rest: f"0{prefix}{rest}",
    st.sampled_from(
        [
            "32",
            "33",
            "34",
            "35",
            "36",
            "37",
            "38",
            "39",
            "70",
            "76",
            "77",
            "78",
            "79",
            "81",
            "82",
            "83",
            "84",
            "85",
            "86",
            "88",
            "89",
            "90",
            "91",
            "93",
            "94",
            "96",
            "97",
            "98",
        ]
    ),
    st.text(alphabet="0123456789", min_size=7, max_size=7),
)


def _spelled(number: str, style: int) -> str:
    """One way a reader types `number` (0xxxxxxxxx): spaced, dotted, dashed, +84, 84, (0xx)."""
    national = number[1:]
    return [
        number,
        f"{number[:4]} {number[4:7]} {number[7:]}",
        f"{number[:4]}.{number[4:7]}.{number[7:]}",
        f"{number[:4]}-{number[4:7]}-{number[7:]}",
        f"+84{national}",
        f"+84 {national[:2]} {national[2:5]} {national[5:]}",
        f"84{national}",
        f"({number[:3]}) {number[3:6]} {number[6:]}",
    ][style]


@SETTINGS
@given(number=vn_mobiles, style=st.integers(0, 7))
def test_valid_phones_round_trip_to_e164(number: str, style: int) -> None:
    """However a valid number is typed, it becomes the same E.164 string, which is itself valid and
    maps to itself: a ban and a submission of one phone always meet."""
    expected = phone_e164(number, "VN")
    if expected is None:  # a prefix the numbering plan does not (or no longer) allocate in full
        return
    assert expected == "+84" + number[1:]
    assert phone_e164(_spelled(number, style), "VN") == expected
    assert phone_e164(expected, "VN") == expected
    assert phonenumbers.is_valid_number(phonenumbers.parse(expected))


@SETTINGS
@given(raw=st.text(max_size=30))
def test_phone_normalisation_never_raises(raw: str) -> None:
    """Anything typed in the phone field is a valid E.164 number or None, never an exception."""
    out = phone_e164(raw, "VN")
    assert out is None or (out.startswith("+") and out[1:].isdigit())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FORM_FIELDS = [
    "article_id",
    "name",
    "phone",
    "title",
    "content",
    "captcha_id",
    "captcha_answer",
    "website",
    "form_token",
]
submissions = st.dictionaries(
    st.sampled_from([*FORM_FIELDS, "extra"]) | st.text(max_size=8), json_values | tricky_text, max_size=10
)


@SETTINGS
@given(data=submissions, lang=st.sampled_from(["vi", "en"]))
def test_validation_answers_anything_with_its_own_error(data: dict[str, Any], lang: str) -> None:
    """Any JSON object: a valid submission, or ValidationFailed whose every error names a form
    field (no duplicates) with a code and a message; never another exception."""
    try:
        valid = validate_submission(data, Rules(), lang)
    except errors.ValidationFailed as exc:
        fields = [e["field"] for e in exc.errors]
        assert fields and len(fields) == len(set(fields))
        for err in exc.errors:
            assert err["field"] in FORM_FIELDS, err
            assert err["code"] and err["message"]
        return
    assert set(valid.raw) <= set(RAW_FIELDS)
    assert normalise(valid.name).text == valid.name
    assert normalise(valid.content, multiline=True).text == valid.content


@SETTINGS
@given(name=tricky_text)
def test_a_bad_name_is_an_error_on_the_name(name: str) -> None:
    """Any name with an otherwise valid form: accepted, or refused with an error on `name` only."""
    data = {
        "article_id": "bai-1",
        "name": name,
        "title": "Ý kiến của tôi",
        "content": "Bài viết rất hay, cảm ơn tác giả.",
        "captcha_id": "c",
        "captcha_answer": "A",
    }
    try:
        valid = validate_submission(data, Rules(), "vi")
    except errors.ValidationFailed as exc:
        assert [e["field"] for e in exc.errors] == ["name"]
        return
    assert 2 <= len(valid.name) <= 80 and not any(_hidden(ch) for ch in valid.name)
