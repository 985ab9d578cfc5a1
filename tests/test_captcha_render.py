"""The captcha image as a person meets it: drawn at its shown size, every character whole and apart."""

from __future__ import annotations

import io
import itertools
import secrets

import pytest
from PIL import Image
from PIL.ImageDraw import Draw

from service.captcha.render import ALPHABET, FittingImageCaptcha, render_image

INK = (30, 60, 120)
PAPER = (250, 250, 250)


@pytest.mark.parametrize(("width", "height", "length"), [(220, 80, 5), (100, 40, 5), (220, 80, 10), (800, 300, 3)])
def test_every_character_stays_inside_the_image_and_apart_from_its_neighbours(
    width: int, height: int, length: int
) -> None:
    """Ink boxes inside the image with a margin, in order, never overlapping (no clipped or merged glyphs),
    for random codes and for the widest letters."""
    captcha = FittingImageCaptcha(width, height)
    codes = ["M" * length, "MWHKX"[:length].ljust(length, "M")]
    codes += ["".join(secrets.choice(ALPHABET) for _ in range(length)) for _ in range(150)]
    for code in codes:
        image, boxes = captcha.compose(code, INK, PAPER)
        assert image.size == (width, height)
        assert len(boxes) == len(code)
        for left, top, right, bottom in boxes:
            assert captcha.margin <= left < right <= width - captcha.margin, (code, boxes)
            assert captcha.margin <= top < bottom <= height - captcha.margin, (code, boxes)
        for (_, _, right, _), (left, _, _, _) in itertools.pairwise(boxes):
            assert right + 3 <= left, (code, boxes)  # at least 3 px of paper between two characters


def test_the_warp_never_cuts_a_character() -> None:
    """Each warped character keeps paper all around its ink (the library's warp cut two in three)."""
    captcha = FittingImageCaptcha(220, 80)
    draw = Draw(Image.new("RGB", (1, 1)))
    for _ in range(40):
        for c in ALPHABET:
            glyph = captcha._draw_character(c, draw, INK)
            ink = glyph.getchannel("A").getbbox()
            assert ink is not None
            assert ink[0] > 0 and ink[1] > 0 and ink[2] < glyph.size[0] and ink[3] < glyph.size[1], (c, ink)


def test_the_png_is_drawn_at_the_configured_size() -> None:
    png, seconds = render_image("AEH39", 220, 80)
    assert Image.open(io.BytesIO(png)).size == (220, 80)
    assert seconds < 5
