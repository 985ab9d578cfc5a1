"""Text normalisation shared by validation and the spam model.

Both sides must see exactly the same text, or the model is trained on one thing and
served another; so this module is the single place that decides what "normalised" means.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass

import nh3
import phonenumbers

# Zero-width characters, bidi overrides/isolates, BOM, soft hyphen: invisible characters
# spammers use to split words ("c​a​s​i​n​o") and to reorder text on screen.
# Also the tag characters (U+E0000 block: invisible "ASCII" riding on any text), the interlinear
# annotation controls (U+FFF9-FFFB) and the supplementary variation selectors (U+E0100-E01EF),
# which a reader never sees but a word filter does.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
# More combining marks on one letter than any script writes ("Zalgo" text that buries the line
# above and below it): Vietnamese needs at most two on a decomposed vowel, Hebrew or Thai a few.
MAX_MARKS = 4
# Markup detector: a tag, an HTML entity or a BBCode link.
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);|\[/?(?:url|img|b|i|link)\b", re.I)
# Tags that break a line in a browser: dropped with the rest of the markup, they would glue the
# words on either side together ("song ever<br />Thumbs up" -> "song everThumbs up").
_BREAKS = re.compile(
    r"<\s*(?:br|hr)\b[^>]*>|<\s*/?\s*(?:p|div|li|ul|ol|dl|dt|dd|tr|td|th|table|h[1-6]|blockquote|pre|"
    r"section|article|header|footer|aside|nav|figure|figcaption|address)\b[^>]*>",
    re.I,
)
_SPACES = re.compile(r"[^\S\n]+")
# Control characters (category Cc: C0, DEL, C1) but newline and tab.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A one-line ASCII value without these characters cannot hold markup: nothing to do but spaces.
_MARKUP_CHARS = re.compile(r"[<&\[]")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised field, with the signals that normalisation removed."""

    text: str
    had_markup: bool
    had_invisible: bool


def _strip_controls(text: str) -> str:
    # Keep newlines and tabs (content is multi-line); drop every other control character.
    return _CONTROLS.sub("", text)


@functools.cache
def _mark_runs() -> re.Pattern[str]:
    """Runs of more than MAX_MARKS combining marks (Unicode category M), built on first use from
    the Unicode database (the planes that hold any, ~30 ms): `re` has no \\p{M}."""
    ranges: list[str] = []
    start = prev = -2
    for cp in (*range(0x20000), *range(0xE0100, 0xE01F0)):
        if unicodedata.category(chr(cp))[0] != "M":
            continue
        if cp != prev + 1:
            if start >= 0:
                ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
            start = cp
        prev = cp
    ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
    return re.compile(f"[{''.join(ranges)}]{{{MAX_MARKS + 1},}}")


def _trim_marks(text: str) -> tuple[str, bool]:
    """`text` with every run of combining marks cut to MAX_MARKS, and whether any was cut."""
    if text.isascii():
        return text, False
    runs = _mark_runs()
    if runs.search(text) is None:
        return text, False
    return runs.sub(lambda m: m.group()[:MAX_MARKS], text), True


def reveal(raw: str) -> str:
    """`raw` safe to show as it was typed: markup escaped (&, <, >, quotes) and every control,
    format (bidi, zero-width, tag) or invisible character written out as [U+XXXX], so a moderator
    sees what the reader hid and nothing in it can run, reorder the page or cut a string short."""
    shown = []
    for ch in raw:
        if ch not in "\n\t" and (unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn") or _INVISIBLE.match(ch)):
            shown.append(f"[U+{ord(ch):04X}]")
        else:
            shown.append(ch)
    return html.escape("".join(shown), quote=True)


def _strip_markup(text: str) -> str:
    # nh3 with no allowed tags keeps the text of every element and drops the tags;
    # it escapes &<>, which we undo because we store plain text, not HTML. An escaped tag
    # ("&lt;br&gt;") is the reader's text and stays so ("<br>"), shown as typed.
    text = _BREAKS.sub("\n", text)
    text = nh3.clean(text, tags=set(), attributes={}, strip_comments=True)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    return text.replace("&#39;", "'").replace("&nbsp;", " ").replace("&amp;", "&")


def normalise(raw: str, *, multiline: bool = False) -> Normalised:
    """Normalise one field: NFC, no invisible or control characters, no markup, tidy spaces.

    Runs of combining marks longer than MAX_MARKS are cut, and count as hidden text (`had_invisible`).

    One-line fields (name, title) get all whitespace collapsed to single spaces; multi-line
    fields (content) keep line breaks but lose trailing spaces and runs of blank lines.
    """
    if not multiline and raw.isascii() and raw.isprintable() and _MARKUP_CHARS.search(raw) is None:
        return Normalised(" ".join(raw.split()), had_markup=False, had_invisible=False)  # ids, codes, phones
    # Every removal comes before NFC and the cut of mark runs: removing a character can bring a
    # mark next to its letter, or two runs of marks together, and what is stored must come out
    # of a second normalisation unchanged (the model trains on stored text, scores fresh text).
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    had_invisible = bool(_INVISIBLE.search(text))
    text = _strip_controls(_INVISIBLE.sub("", text))
    had_markup = bool(_MARKUP.search(text))
    if had_markup:
        text = _strip_markup(text)
    text = unicodedata.normalize("NFC", text)
    text, had_mark_run = _trim_marks(text)
    had_invisible |= had_mark_run
    if multiline:
        lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\t", " ").split("\n")]
        text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    else:
        text = " ".join(text.split())
    return Normalised(text=text, had_markup=had_markup, had_invisible=had_invisible)


def normalise_text(raw: str, *, multiline: bool = False) -> str:
    """Shortcut for callers that only want the text (the model's feature extractors)."""
    return normalise(raw, multiline=multiline).text


def phone_e164(value: str, region: str) -> str | None:
    """A phone number as E.164 ("0911 222 333" in VN -> "+84911222333"), or None when it is not a
    valid number. Submissions and phone bans both go through here, so a ban typed the way a reader
    types a number matches that reader's comments."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
