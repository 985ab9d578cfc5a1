"""Pure captcha rendering: code in, PNG or WAV bytes out.

These functions run in worker processes (`service.captcha.workers` starts and feeds them): rendering costs a few
milliseconds an image and a couple of hundred an audio clip, far too long for the event loop.
They import nothing of the service, so a worker starts quickly. The renderer objects are cached
per worker process: fonts and voices are loaded once, not per captcha.
"""

from __future__ import annotations

import functools
import io
import os
import secrets
import time
from pathlib import Path

from captcha.audio import BEEP, AudioCaptcha, patch_wave_header
from captcha.image import ColorTuple, ImageCaptcha, random_color
from PIL.Image import Image
from PIL.Image import new as new_image
from PIL.ImageDraw import Draw
from PIL.ImageFilter import SMOOTH

# No look-alikes on screen (no 0/O, 1/I/L, 2/Z, 5/S is kept: distinct in DroidSansMono, 8/B, 6/G, U/V)
# and none by ear in Vietnamese: B/C/D/G/P/T/V all end in "-ê", M/N and 2/7 sound alike.
ALPHABET = "AEHKMRSUXY345689"
VOICES = Path(__file__).resolve().parent / "voices"
LANGUAGES = ("vi", "en")
# Font sizes as shares of the image height: DroidSansMono's glyph box is ~1.1 x the size, so the
# largest (0.68) stays inside the image with room for the vertical offset.
FONT_SCALE = (0.52, 0.60, 0.68)
# zlib level 1, not PIL's default 6: the encode takes 0.8 ms instead of 1.6 (a third of a render)
# for a PNG ~13% larger (~11 KB at 220x80).
PNG_LEVEL = 1
RENDER_NICENESS = 5  # readers' renders; the refill's too where SCHED_IDLE is not available


class FittingImageCaptcha(ImageCaptcha):
    """The library's captcha, laid out so that no character is ever cut off.

    The library starts pasting at an offset and may push the last character past the right edge;
    here the canvas is sized to what was laid out (plus a margin) and then scaled to the configured
    size, so a long code is squeezed, never cropped. Heights come from FONT_SCALE for the same reason.
    """

    # More overlap than the library's 0.25 and three extra noise arcs: with a 16-character alphabet,
    # Tesseract told the alphabet read 2.2% of the library's layout exactly, 0.4-0.5% of this one (bench/captchas.py).
    word_offset_dx = 0.3
    noise_curves = 4

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height, font_sizes=tuple(max(12, round(height * f)) for f in FONT_SCALE))

    def generate_image(
        self, chars: str, bg_color: ColorTuple | None = None, fg_color: ColorTuple | None = None
    ) -> Image:
        background = bg_color or random_color(238, 255)
        color = fg_color or random_color(10, 200, secrets.randbelow(36) + 220)
        im = self.create_captcha_image(chars, color, background)
        self.create_noise_dots(im, color)
        for _ in range(self.noise_curves):
            self.create_noise_curve(im, color)
        return im.filter(SMOOTH)

    def create_captcha_image(self, chars: str, color: ColorTuple, background: ColorTuple) -> Image:
        draw = Draw(new_image("RGB", (self._width, self._height), background))
        images: list[Image] = []
        for c in chars:
            if secrets.randbits(32) / (2**32) > self.word_space_probability:
                images.append(self._draw_character(" ", draw, color))
            images.append(self._draw_character(c, draw, color))
        text_width = sum(im.size[0] for im in images)
        average = max(1, text_width // max(1, len(chars)))
        overlap = int(self.word_offset_dx * average)
        margin = max(2, average // 10)
        xs: list[int] = []
        x = margin
        for im in images:
            xs.append(x)
            x += im.size[0] - secrets.randbelow(overlap + 1)
        right = max((x0 + im.size[0] for x0, im in zip(xs, images, strict=True)), default=margin)
        width = max(right + margin, self._width)
        canvas = new_image("RGB", (width, self._height), background)
        for x0, im in zip(xs, images, strict=True):
            mask = im.convert("L").point(self.lookup_table)
            # Each character at its own height, inside the image: a wandering baseline costs
            # Tesseract its line finding (exact reads 0.3% -> 0.0-0.1% over 1,000; bench/captchas.py).
            canvas.paste(im, (x0, secrets.randbelow(max(0, self._height - im.size[1]) + 1)), mask)
        if width > self._width:
            canvas = canvas.resize((self._width, self._height))
        return canvas


@functools.cache
def _image_captcha(width: int, height: int) -> FittingImageCaptcha:
    return FittingImageCaptcha(width, height)


@functools.cache
def _audio_captcha(lang: str) -> AudioCaptcha:
    audio = AudioCaptcha(voicedir=str(VOICES / lang))
    audio.load()
    return audio


def render_image(code: str, width: int, height: int) -> tuple[bytes, float]:
    """A PNG of `code` and the seconds it took."""
    started = time.perf_counter()
    out = io.BytesIO()
    _image_captcha(width, height).generate_image(code.upper()).save(out, format="png", compress_level=PNG_LEVEL)
    png = out.getvalue()
    return png, time.perf_counter() - started


def render_images(codes: list[str], width: int, height: int) -> list[tuple[bytes, float]]:
    """Several PNGs in one task (the pool refill), to pay the inter-process hop once per batch."""
    return [render_image(code, width, height) for code in codes]


def render_audio(code: str, lang: str) -> tuple[bytes, float]:
    """A WAV (8 kHz, 8-bit mono) reading `code` in `lang` ("vi" or "en"), and the seconds it took.

    Characters without a voice (only possible with a hand-set test code) are skipped."""
    started = time.perf_counter()
    audio = _audio_captcha(lang if lang in LANGUAGES else LANGUAGES[0])
    chars = "".join(c for c in code.upper() if c in audio.choices)
    wav = bytes(audio.generate(chars)) if chars else bytes(patch_wave_header(bytearray(BEEP)))
    return wav, time.perf_counter() - started


def _lower_priority(idle: bool) -> None:
    if idle:
        # The pool refill: SCHED_IDLE, not just a nice value. A niced worker still holds a core for
        # a few ms after the event loop wakes up, and serving is ping-pong with Redis; a burst from
        # the pool ran ~25% slower while the refill rendered. An idle-class worker yields at once.
        # Not for renders a reader waits for: those would starve behind any busy process.
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except (AttributeError, OSError):
            pass
    os.nice(RENDER_NICENESS)


def warm(width: int, height: int, idle: bool = False) -> None:
    """Worker initializer: lower the worker's priority, load the fonts and voices.

    A lower priority keeps the event loop (health checks, verifications, pool hits) responsive
    when every core is busy rendering."""
    _lower_priority(idle)
    render_image(ALPHABET[:4], width, height)
    for lang in LANGUAGES:
        if (VOICES / lang).is_dir():
            _audio_captcha(lang)


def ping() -> None:
    """A no-op task: submitting one per worker at start-up spawns them all."""
