"""Regenerate the captcha voice files: `python service/voices/make_voices.py` (needs espeak-ng and sox).

The audio captcha (`captcha.audio.AudioCaptcha`) wants `<lang>/<character>/<name>.wav`, mono,
8000 Hz, 8-bit unsigned PCM; it never checks, and espeak-ng's native 22 kHz/16-bit output
silently comes out garbled, hence the sox conversion (which also trims the silence around each
word and normalises the level). Every character of A-Z and 0-9 gets a voice, so even a test code
outside the captcha alphabet can be read aloud; each voice of a language is one more recording the
renderer picks from at random.
"""

from __future__ import annotations

import shutil
import string
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VOICES = {"vi": ("vi", "vi-vn-x-central", "vi-vn-x-south"), "en": ("en-us", "en-gb")}
# Vietnamese digits as words; letters as the bare letter (the vi voice says the Vietnamese letter
# name), except those espeak-ng cuts to a click, spelled out in full.
VI_WORDS = {
    "0": "không",
    "1": "một",
    "2": "hai",
    "3": "ba",
    "4": "bốn",
    "5": "năm",
    "6": "sáu",
    "7": "bảy",
    "8": "tám",
    "9": "chín",
    "F": "ép-phờ",
    "X": "ích-xì",
    "W": "vê kép",
    "J": "gi",
    "Z": "dét",
}
EN_WORDS = {
    "0": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
}
CHARACTERS = string.ascii_uppercase + string.digits


def word(lang: str, char: str) -> str:
    table = VI_WORDS if lang == "vi" else EN_WORDS
    return table.get(char, char)


def make(lang: str, voice: str, char: str, out: Path, tmp: Path) -> None:
    raw = tmp / "raw.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(raw), word(lang, char)], check=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    convert = ["-r", "8000", "-c", "1", "-b", "8", "-e", "unsigned-integer"]
    trim = ["silence", "1", "0.01", "1%", "reverse", "silence", "1", "0.01", "1%", "reverse", "norm", "-1"]
    subprocess.run(["sox", str(raw), *convert, str(out), *trim], check=True)


def main() -> int:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"needs `{tool}` (Debian package {tool})", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory() as tmp:
        for lang, voices in VOICES.items():
            shutil.rmtree(HERE / lang, ignore_errors=True)
            for voice in voices:
                for char in CHARACTERS:
                    make(lang, voice, char, HERE / lang / char / f"{voice}.wav", Path(tmp))
    count = len(list(HERE.glob("*/*/*.wav")))
    size = sum(p.stat().st_size for p in HERE.glob("*/*/*.wav"))
    print(f"{count} voice files, {size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
