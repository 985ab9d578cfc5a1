"""The text normaliser shared by validation and the spam model."""

from __future__ import annotations

import unicodedata

from service.text import MAX_MARKS, _trim_marks, normalise, phone_e164, reveal


def test_line_break_tags_keep_words_apart() -> None:
    """`<br>`, `<br />` and block tags become a line break, so the words around them stay two words."""
    got = normalise("song ever<br />Thumbs up<BR>if you<br/>agree", multiline=True)
    assert got.text == "song ever\nThumbs up\nif you\nagree"
    assert got.had_markup
    assert normalise("<p>một</p><p>hai</p><div>ba</div>bốn", multiline=True).text == "một\n\nhai\n\nba\nbốn"


def test_line_break_tags_in_one_line_fields_become_spaces() -> None:
    """In a one-line field (name, title) a line-break tag is a single space."""
    assert normalise("Tin<br>nóng<hr/>hôm nay").text == "Tin nóng hôm nay"


def test_inline_tags_and_escaped_tags() -> None:
    """Inline tags vanish without a space; an escaped tag is text, not markup to break on."""
    assert normalise("<b>nhà</b>cái <a href='x'>link</a>", multiline=True).text == "nhàcái link"
    assert normalise("a &lt;br&gt; b", multiline=True).text == "a <br> b"


def test_plain_text_untouched() -> None:
    """Text without markup keeps its words, lines and diacritics; blank-line runs shrink to one."""
    got = normalise("  Giá xăng\n\n\n\ntăng  quá  ", multiline=True)
    assert got.text == "Giá xăng\n\ntăng quá"
    assert not got.had_markup and not got.had_invisible


def test_vietnamese_keeps_its_marks() -> None:
    """Decomposed Vietnamese (two marks on a vowel) is composed, kept and not flagged."""
    got = normalise("Nguye\u0302\u0303n Thi\u0323 Ho\u0300a")
    assert got.text == "Nguyễn Thị Hòa" and not got.had_invisible


def test_long_runs_of_combining_marks_are_cut_and_flagged() -> None:
    """ "Zalgo" text: each run is cut to MAX_MARKS marks and counts as hidden text."""
    got = normalise("a" + "\u0301\u0302\u0303" * 20 + "b")
    assert got.had_invisible
    assert len(got.text) == 2 + MAX_MARKS


def test_reveal_spells_out_what_a_page_must_not_render() -> None:
    """reveal() escapes markup and writes bidi, NUL, tag and zero-width characters as [U+XXXX]."""
    shown = reveal('<img src=x onerror="a()">\u202e\x00\U000e0041\u200b&\n\tok')
    assert shown == "&lt;img src=x onerror=&quot;a()&quot;&gt;[U+202E][U+0000][U+E0041][U+200B]&amp;\n\tok"
    assert reveal("Nguyễn Văn An") == "Nguyễn Văn An"


def test_phone_numbers_as_e164() -> None:
    """The one normalisation submissions and phone bans share."""
    assert phone_e164("0911 222 333", "VN") == phone_e164("+84 911 222 333", "VN") == "+84911222333"
    assert phone_e164("\x00", "VN") is None and phone_e164("12", "VN") is None


def test_mark_runs_are_cut_for_every_combining_mark_and_only_those() -> None:
    """The regex built from the Unicode database cuts a run of any combining mark (category M) to
    MAX_MARKS, and leaves a run of anything else alone, over every code point."""
    for cp in range(0x110000):
        ch = chr(cp)
        if unicodedata.category(ch) in ("Cs", "Cn"):
            continue
        text, cut = _trim_marks("a" + ch * (MAX_MARKS + 2))
        if unicodedata.category(ch).startswith("M"):
            assert cut and text == "a" + ch * MAX_MARKS, hex(cp)
        else:
            assert not cut and text == "a" + ch * (MAX_MARKS + 2), hex(cp)
