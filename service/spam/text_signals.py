"""What a comment's text says before any vocabulary: its folded and de-obfuscated forms, and the
cheap signals a moderator can read (links, phone numbers, digit and capital shares, repeated
characters, markup, lengths, a name containing digits or a link).

- the *folded* text (lower case, diacritics stripped, spaced-out letters joined, "chấm com"
  read as ".com") is what character n-grams see, so "nhà cái", "nha cai" and "n h a c a i" look alike;
- the lower-cased text keeps its diacritics for word n-grams, where the tones carry meaning.
"""

from __future__ import annotations

import math
import re
import unicodedata

# Domains spammers use; the list only needs to be broad, not complete (char n-grams do the rest).
_TLD = (
    r"com|net|org|vn|info|xyz|top|club|io|me|co|biz|site|online|store|vip|win|bet|ly|gl|link|shop|app|"
    r"pro|tk|ml|ga|cf|live|fun|asia|us|uk|ru|cc|tv|ws|in|to|am|fm|one|bio|click|cam|tech|space|website"
)
_URL = re.compile(rf"https?://[^\s<>\"']+|www\.[^\s<>\"']+|\b[a-z0-9][a-z0-9-]{{0,62}}\.(?:{_TLD})\b(?:/[^\s<>\"']*)?")
# Letters or digits written one by one with spaces ("w w w . x y z . c o m", "0 9 0 9 ...").
_SPACED = re.compile(r"(?<!\S)(?:\S ){3,}\S(?!\S)")
# "abc chấm com", "abc (dot) com", "abc [.] com" after folding.
_DOT_WORD = re.compile(rf"\s*[\[\(]\s*(?:dot|cham|\.)\s*[\]\)]\s*|\s+(?:dot|cham)\s+(?=(?:{_TLD})\b)")
# A Vietnamese mobile or landline number, or any run of 9+ digits with separators.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){8,10}(?!\d)|(?<!\d)\d(?:[\s.\-]?\d){8,13}(?!\d)")
_LINK_HINT = re.compile(rf"://|www\.|\.(?:{_TLD})\b")
_REPEAT = re.compile(r"(.)\1{3,}")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")


def _fold_table() -> list[str | None]:
    # A list indexed by code point, not a dict: `str.translate` pays for a KeyError on every
    # character a dict leaves out (most of them), and is 2x slower. Past the end of the list,
    # the IndexError is a LookupError too: the character is kept, as a dict miss keeps it.
    table: list[str | None] = [chr(code) for code in range(0x1F00)]
    table[ord("đ")] = table[ord("Đ")] = "d"
    for code in range(0x00C0, 0x1F00):
        base = unicodedata.normalize("NFD", chr(code))
        if len(base) > 1 and base[0].isascii() and all(unicodedata.category(c) == "Mn" for c in base[1:]):
            table[code] = base[0].lower()
    for code in range(0x0300, 0x0370):  # stray combining marks (text is NFC, but be safe)
        table[code] = None
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Lower case, no diacritics, "đ" as "d": the form char n-grams see. One C-level pass."""
    return text.lower().translate(_FOLD)


def _join_spaced(m: re.Match[str]) -> str:
    return m.group(0).replace(" ", "")


# Every `_SPACED` match ("a b c d") holds " b c ": this literal-led pattern is found (or not) far
# faster than `_SPACED`, whose look-behind makes the regex engine try every position.
_SPACED_HINT = re.compile(r" \S \S ")


def deobfuscate(folded: str) -> str:
    """Undo the cheap tricks that hide links and numbers from word filters."""
    text = _SPACED.sub(_join_spaced, folded) if _SPACED_HINT.search(folded) else folded
    if "dot" in text or "cham" in text or "(" in text or "[" in text:
        text = _DOT_WORD.sub(".", text)
    return text


def _has_link(folded: str) -> bool:
    # The cheap test first: most comments have no "://", "www." or ".<tld>" at all.
    return _LINK_HINT.search(folded) is not None and _URL.search(folded) is not None


# The signals: name -> (reason code, Vietnamese, English). A code shared by two signals gives
# one reason. Order matters: it is the column order in the feature matrix.
SIGNALS: dict[str, tuple[str, str, str]] = {
    "link": ("link", "có đường link", "contains a link"),
    "link_hidden": ("link_hidden", "link bị viết tách để lách bộ lọc", "a link spelled out to dodge filters"),
    "phone": ("phone", "có số điện thoại trong nội dung", "phone number in the text"),
    "digits": ("digits", "nhiều chữ số", "many digits"),
    "capitals": ("capitals", "viết hoa nhiều", "many capital letters"),
    "repeated": ("repeated", "ký tự lặp lại nhiều lần", "repeated characters"),
    "exclaim": ("exclaim", "nhiều dấu chấm than", "many exclamation marks"),
    "emoji": ("emoji", "nhiều biểu tượng cảm xúc", "many emoji"),
    "markup": ("markup", "có mã HTML/BBCode", "contains markup"),
    "short": ("length", "độ dài bất thường", "unusual length"),
    "long": ("length", "độ dài bất thường", "unusual length"),
    "lines": ("lines", "nhiều dòng", "many lines"),
    "name_digits": ("name_digits", "tên có chữ số", "name contains digits"),
    "name_link": ("name_link", "tên là một link", "name contains a link"),
    "name_long": ("name_long", "tên dài bất thường", "unusually long name"),
}


def _class_table() -> list[str | None]:
    # Each character of the first 0x3000 code points -> a letter coding (isalpha, isupper,
    # isdigit) as bits, or deleted if none: one `translate` and a few `count`s instead of three
    # Python-level passes over the text. Past the table, characters are kept and counted one by one.
    table: list[str | None] = []
    for code in range(0x3000):
        ch = chr(code)
        bits = ch.isalpha() | ch.isupper() << 1 | ch.isdigit() << 2
        table.append(_CLASS_LETTERS[bits] if bits else None)
    return table


_CLASS_LETTERS = "ABCDEFGH"  # "A" + bits; bit 1 alpha, 2 upper, 4 digit
_CLASS = _class_table()
_CLASSIFIED = re.compile("[B-H]+")


def char_counts(text: str) -> tuple[int, int, int]:
    """(letters, upper case, digits) of `text`, as `str.isalpha`, `isupper`, `isdigit` count them."""
    classes = text.translate(_CLASS)
    n = classes.count
    by = {letter: n(letter) for letter in _CLASS_LETTERS[1:]}
    letters = by["B"] + by["D"] + by["F"] + by["H"]
    upper = by["C"] + by["D"] + by["G"] + by["H"]
    digits = by["E"] + by["F"] + by["G"] + by["H"]
    if not classes.isascii():  # characters past the table (emoji, CJK...) were left as they are
        for ch in _CLASSIFIED.sub("", classes):
            letters += ch.isalpha()
            upper += ch.isupper()
            digits += ch.isdigit()
    return letters, upper, digits


def signals(
    name: str, body: str, folded: str, plain: str, had_markup: bool, name_plain: str | None = None
) -> list[float]:
    """The cheap signals of one comment, each in [0, 1], in `SIGNALS` order.

    `body` is title and content, `folded` its `fold`, `plain` its `deobfuscate(folded)`;
    `name_plain` is `deobfuscate(fold(name))`, computed here if not given.
    """
    has_link = _has_link(folded)
    hidden_link = not has_link and plain != folded and _has_link(plain)
    n = max(len(body), 1)
    letters, upper, digits = char_counts(body)
    return [
        float(has_link),
        float(hidden_link),
        float(digits >= 9 and _PHONE.search(plain) is not None),
        min(digits / n * 4.0, 1.0),
        upper / letters if letters >= 8 else 0.0,
        min(len(_REPEAT.findall(body)) / 2.0, 1.0),
        min(body.count("!") / 5.0, 1.0),
        min(len(_EMOJI.findall(body)) / 5.0, 1.0),
        float(had_markup),
        float(len(body) < 25),
        min(math.log1p(len(body)) / 8.0, 1.0),
        min(body.count("\n") / 10.0, 1.0),
        float(any(map(str.isdigit, name))),
        float(bool(name) and _has_link(deobfuscate(fold(name)) if name_plain is None else name_plain)),
        float(len(name) > 30),
    ]


View = tuple[str, str, str, str, str, list[float]]


def view(name: str, title: str, content: str, had_markup: bool) -> View:
    """Everything the features and the explanations read from one comment, each computed once:
    body (title and content), its `fold`, that de-obfuscated, body lower-cased, the bracketed
    folded name the name n-grams see, and the signals."""
    body = f"{title}\n{content}" if title else content
    folded = fold(body)
    plain = deobfuscate(folded)
    name_folded = fold(name)
    # Bracketed so an empty name is a feature too (and the vocabulary is never empty).
    name_doc = f"<{name_folded}>"
    name_plain = deobfuscate(name_folded) if name else ""
    return body, folded, plain, body.lower(), name_doc, signals(name, body, folded, plain, had_markup, name_plain)


def spans(kind: str, folded: str) -> list[tuple[int, int]]:
    """Where a signal shows in the folded text (aligned with the original where `fold` keeps every
    character in place, as it does Vietnamese)."""
    if kind == "link":
        return [m.span() for m in _URL.finditer(folded)]
    if kind == "link_hidden":
        return [m.span() for m in _SPACED.finditer(folded) if _URL.search(deobfuscate(m.group(0)))]
    if kind == "phone":
        return [m.span() for m in _PHONE.finditer(folded)]
    if kind == "repeated":
        return [m.span() for m in _REPEAT.finditer(folded)]
    return []
