"""The text normaliser shared by validation and the spam model."""

from __future__ import annotations

from service.text import normalise


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
