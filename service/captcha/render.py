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
from PIL.Image import Image, Resampling, Transform
from PIL.Image import new as new_image
from PIL.ImageDraw import Draw, ImageDraw
from PIL.ImageFilter import SMOOTH

# No look-alikes on screen (no 0/O, 1/I/L, 2/Z, 5/S is kept: distinct in DroidSansMono, 8/B, 6/G, U/V)
# and none by ear in Vietnamese: B/C/D/G/P/T/V all end in "-ê", M/N and 2/7 sound alike.
ALPHABET = "AEHKMRSUXY345689"
VOICES = Path(__file__).resolve().parent / "voices"
LANGUAGES = ("vi", "en")
# Font sizes as shares of the image height. A glyph that comes out too big for its share of the
# image is scaled down to fit (`FittingImageCaptcha.compose`), never cut.
FONT_SCALE = (0.58, 0.64, 0.70)
# zlib level 1, not PIL's default 6: the encode takes 0.8 ms instead of 1.6 (a third of a render)
# for a PNG ~13% larger (~11 KB at 220x80).
PNG_LEVEL = 1
RENDER_NICENESS = 5  # readers' renders; the refill's too where SCHED_IDLE is not available

WARP = 0.15  # how far each corner of a character's warp may move, as a share of its size
Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), in image pixels


class FittingImageCaptcha(ImageCaptcha):
    """The library's characters (font, rotation, warp), laid out so a person reads them at first sight.

    Drawn at the size the widget shows it (no scaling of the whole image, which blurred and squeezed
    the code). Each character is cropped to its ink and placed in its own column: the ink boxes stay
    inside the image, with a margin, and never overlap, so no character is clipped or merges into
    its neighbour. Codes too wide for the image are shrunk glyph by glyph, keeping their shapes.
    What stands against machines is the warp, the wandering baseline, the noise, single use and the
    rate limits, not characters a person must guess at.
    """

    noise_curves = 3

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height, font_sizes=tuple(max(12, round(height * f)) for f in FONT_SCALE))
        self.margin = max(3, round(height * 0.06))

    def generate_image(
        self, chars: str, bg_color: ColorTuple | None = None, fg_color: ColorTuple | None = None
    ) -> Image:
        background = bg_color or random_color(238, 255)
        color = fg_color or random_color(10, 200, secrets.randbelow(36) + 220)
        im, _ = self.compose(chars, color, background)
        self.create_noise_dots(im, color)
        for _ in range(self.noise_curves):
            self.create_noise_curve(im, color)
        return im.filter(SMOOTH)

    def create_captcha_image(self, chars: str, color: ColorTuple, background: ColorTuple) -> Image:
        return self.compose(chars, color, background)[0]

    def _draw_character(self, c: str, draw: ImageDraw, color: ColorTuple) -> Image:
        """One character in a random font size, rotated and warped, as the library does, but with
        room around the ink for the warp: the library's warp moves the corners inward into the
        glyph and cut two glyphs in three at an edge. Here an inward corner only cuts padding."""
        font = secrets.choice(self.truefonts)
        _, _, w, h = draw.multiline_textbbox((1, 1), c, font=font)
        im = new_image("RGBA", (int(w) + 4, int(h) + 4))
        Draw(im).text((2, 2), c, font=font, fill=color)
        ink = im.getbbox()
        im = im.crop(ink) if ink else im
        low, high = self.character_rotate
        im = im.rotate(low + _unit() * (high - low), Resampling.BILINEAR, expand=True)
        w, h = im.size
        dx, dy = w * WARP, h * WARP
        pad_x, pad_y = int(dx) + 2, int(dy) + 2
        padded = new_image("RGBA", (w + 2 * pad_x, h + 2 * pad_y))
        padded.paste(im, (pad_x, pad_y))
        width, height = padded.size
        # The source quad's corners (upper-left, lower-left, lower-right, upper-right), each moved by
        # up to `WARP` of the glyph's size: a random perspective, never into the ink.
        quad = (
            _jitter(dx), _jitter(dy), _jitter(dx), height + _jitter(dy),
            width + _jitter(dx), height + _jitter(dy), width + _jitter(dx), _jitter(dy),
        )  # fmt: skip
        return padded.transform((width, height), Transform.QUAD, quad, Resampling.BILINEAR)

    def _glyph(self, c: str, draw: ImageDraw, color: ColorTuple) -> Image:
        """One character, rotated and warped by the library, cropped to its ink."""
        im = self._draw_character(c, draw, color)
        ink = im.getchannel("A").getbbox()
        return im.crop(ink) if ink else im

    def compose(self, chars: str, color: ColorTuple, background: ColorTuple) -> tuple[Image, list[Box]]:
        """The code on a plain background, and where each character's ink is."""
        width, height, margin = self._width, self._height, self.margin
        draw = Draw(new_image("RGB", (width, height), background))
        glyphs = [self._glyph(c, draw, color) for c in chars]
        n = max(1, len(glyphs))
        # Gaps between characters: at least 3 px (they never touch), up to ~a tenth of a character.
        widest = max((g.size[0] for g in glyphs), default=1)
        gaps = [3 + secrets.randbelow(max(1, widest // 8)) for _ in range(n - 1)]
        room_w = width - 2 * margin - sum(gaps)
        room_h = height - 2 * margin
        total = sum(g.size[0] for g in glyphs)
        shrink = min(1.0, room_w / max(1, total))
        fitted: list[Image] = []
        for g in glyphs:
            k = min(shrink, room_h / g.size[1])
            if k < 1.0:
                g = g.resize((max(1, int(g.size[0] * k)), max(1, int(g.size[1] * k))))
            fitted.append(g)
        used = sum(g.size[0] for g in fitted) + sum(gaps)
        x = margin + secrets.randbelow(max(0, width - 2 * margin - used) + 1)
        canvas = new_image("RGB", (width, height), background)
        boxes: list[Box] = []
        for i, g in enumerate(fitted):
            w, h = g.size
            # Each character at its own height: a wandering baseline costs Tesseract its line finding.
            y = margin + secrets.randbelow(max(0, room_h - h) + 1)
            canvas.paste(g, (x, y), g.getchannel("A").point(self.lookup_table))
            boxes.append((x, y, x + w, y + h))
            x += w + (gaps[i] if i < len(gaps) else 0)
        return canvas, boxes


def _unit() -> float:
    """A uniform random number in [0, 1) from the secrets module (captchas are a security control)."""
    return secrets.randbits(32) / 2**32


def _jitter(limit: float) -> float:
    return (_unit() * 2 - 1) * limit


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
