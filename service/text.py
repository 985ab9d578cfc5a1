"""Text normalisation shared by validation and the spam model.

Both sides must see exactly the same text, or the model is trained on one thing and
served another; so this module is the single place that decides what "normalised" means.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import nh3

# Zero-width characters, bidi overrides/isolates, BOM, soft hyphen: invisible characters
# spammers use to split words ("c​a​s​i​n​o") and to reorder text on screen.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
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
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised field, with the signals that normalisation removed."""

    text: str
    had_markup: bool
    had_invisible: bool


def _strip_controls(text: str) -> str:
    # Keep newlines and tabs (content is multi-line); drop every other control character.
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def normalise(raw: str, *, multiline: bool = False) -> Normalised:
    """Normalise one field: NFC, no invisible or control characters, no markup, tidy spaces.

    One-line fields (name, title) get all whitespace collapsed to single spaces; multi-line
    fields (content) keep line breaks but lose trailing spaces and runs of blank lines.
    """
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    had_invisible = bool(_INVISIBLE.search(text))
    text = _INVISIBLE.sub("", text)
    text = _strip_controls(text)
    had_markup = bool(_MARKUP.search(text))
    if had_markup:
        # nh3 with no allowed tags keeps the text of every element and drops the tags;
        # it escapes &<>, which we undo because we store plain text, not HTML.
        text = _BREAKS.sub("\n", text)
        text = nh3.clean(text, tags=set(), attributes={}, strip_comments=True)
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
        text = text.replace("&#39;", "'").replace("&nbsp;", " ").replace("&amp;", "&")
        text = unicodedata.normalize("NFC", text)
    if multiline:
        lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\t", " ").split("\n")]
        text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    else:
        text = " ".join(text.split())
    return Normalised(text=text, had_markup=had_markup, had_invisible=had_invisible)


def normalise_text(raw: str, *, multiline: bool = False) -> str:
    """Shortcut for callers that only want the text (the model's feature extractors)."""
    return normalise(raw, multiline=multiline).text
