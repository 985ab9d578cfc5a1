"""Captcha ids: the seal that carries the code, the signed ticket, and the answer's stored digest.

A captcha id is `<seal>.<ticket>`. The seal holds its own code: base64url(nonce | code XOR
PRF(nonce) | tag); Redis holds only an HMAC of the answer (keyed by the server secret) plus the
rendered PNG, under the seal's key with the TTL. The code itself is never stored, yet the audio
can still be rendered on demand from the id. The ticket, base64url(issued at ms | pooled or not |
article binding | holder | tag), says when the captcha was issued, where it is stored, for which
article (or for "no article") and to which client (a keyed hash), signed: expiry, the article
and the holder are checked from it, so issuing a pooled captcha writes nothing on the request
path. A forged or altered id fails a tag and never reaches Redis.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import time
import unicodedata
from dataclasses import dataclass

from service.captcha import render as captcha_render

NONCE_BYTES = 9
TAG_BYTES = 6
MAX_CODE = 16  # the longest test code settings allow
MAX_SEAL_CHARS = 4 * (NONCE_BYTES + MAX_CODE + TAG_BYTES) // 3 + 4
BIND_BYTES = 8
TICKET_TAG_BYTES = 8
# issued at (ms, 48 bits) | pooled | article | holder | tag
TICKET_BYTES = 7 + 2 * BIND_BYTES + TICKET_TAG_BYTES
OLD_TICKET_BYTES = TICKET_BYTES - BIND_BYTES  # tickets issued before the holder was recorded
UNBOUND = bytes(BIND_BYTES)  # what tickets issued before "no article" was a binding of its own hold
MAX_ID_CHARS = MAX_SEAL_CHARS + 1 + 4 * TICKET_BYTES // 3 + 4
# The shape of an issued id (seal "." ticket, unpadded base64url), for the API's document; whether
# it is one of ours only its tags can say.
ID_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_SEAL_CHARS}}}\.[A-Za-z0-9_-]{{1,{4 * TICKET_BYTES // 3 + 4}}}$"
CLOCK_SKEW_MS = 30_000  # a ticket from a replica whose clock runs ahead is not "expired"


def random_code(length: int, alphabet: str = captcha_render.ALPHABET) -> str:
    """A uniformly random code from one urandom read (secrets.choice reads urandom per character:
    ~15 µs each, most of a pool refill's main-process cost). Rejection sampling keeps it unbiased."""
    limit = 256 - 256 % len(alphabet)
    out: list[str] = []
    while len(out) < length:
        out.extend(alphabet[b % len(alphabet)] for b in secrets.token_bytes(2 * length) if b < limit)
    return "".join(out[:length])


def normalise_answer(answer: str) -> str:
    """What the reader typed, as compared: full-width folded, spaces dropped, upper case."""
    return "".join(unicodedata.normalize("NFKC", answer).split()).upper()


@dataclass(frozen=True, slots=True)
class Ticket:
    """An issued captcha id, opened: its seal (the storage id), code, issue time and binding."""

    seal: str
    code: str
    issued_ms: int
    pooled: bool
    bind: bytes
    holder: bytes = UNBOUND  # keyed hash of the client it was issued to (UNBOUND: not recorded)

    def expired(self, ttl_s: int, now_ms: int | None = None) -> bool:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return not (-CLOCK_SKEW_MS <= now - self.issued_ms <= ttl_s * 1000)


class Sealer:
    """Seals a code into an id and opens it again; keys derived from the server secret."""

    def __init__(self, secret: bytes) -> None:
        self._seal_key = hmac.digest(secret, b"duyet captcha seal", "sha256")
        self._tag_key = hmac.digest(secret, b"duyet captcha tag", "sha256")
        self._answer_key = hmac.digest(secret, b"duyet captcha answer", "sha256")
        self._ticket_key = hmac.digest(secret, b"duyet captcha ticket", "sha256")
        # A submission opens its captcha's id twice (its partition, then the check): pure, so cached.
        self.parse = functools.lru_cache(maxsize=1024)(self._parse)

    def fingerprint(self) -> str:
        """A short, non-secret name for the keys in use (pool entries sealed with other keys are useless)."""
        return hmac.digest(self._tag_key, b"fingerprint", "sha256")[:4].hex()

    def _stream(self, nonce: bytes, n: int) -> bytes:
        return hmac.digest(self._seal_key, nonce, "sha256")[:n]

    def seal(self, code: str) -> str:
        raw = code.encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = bytes(a ^ b for a, b in zip(raw, self._stream(nonce, len(raw)), strict=True))
        tag = hmac.digest(self._tag_key, nonce + sealed, "sha256")[:TAG_BYTES]
        return base64.urlsafe_b64encode(nonce + sealed + tag).rstrip(b"=").decode()

    def open(self, captcha_id: str) -> str | None:
        """The code sealed in `captcha_id` (a seal), or None if it is not a seal we made."""
        if not (0 < len(captcha_id) <= MAX_SEAL_CHARS) or not captcha_id.isascii():
            return None
        try:
            blob = base64.urlsafe_b64decode(captcha_id + "=" * (-len(captcha_id) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(blob) <= NONCE_BYTES + TAG_BYTES:
            return None
        nonce, sealed, tag = blob[:NONCE_BYTES], blob[NONCE_BYTES:-TAG_BYTES], blob[-TAG_BYTES:]
        if not hmac.compare_digest(tag, hmac.digest(self._tag_key, nonce + sealed, "sha256")[:TAG_BYTES]):
            return None
        raw = bytes(a ^ b for a, b in zip(sealed, self._stream(nonce, len(sealed)), strict=True))
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None

    def bind(self, article_id: str | None) -> bytes:
        """The ticket's article binding. A captcha issued without an article is bound to "no
        article" (a value of its own), so it verifies only where no article applies, never for
        whichever article it is first sent with."""
        subject = b"article:" + article_id.encode() if article_id else b"no article"
        return hmac.digest(self._ticket_key, subject, "sha256")[:BIND_BYTES]

    def holder(self, client: str) -> bytes:
        """Who a captcha was issued to (a keyed hash: the id reveals no address), so that only the
        same client can void it with `replaces`."""
        return hmac.digest(self._ticket_key, b"holder:" + client.encode(), "sha256")[:BIND_BYTES]

    def issue(
        self, seal: str, article_id: str | None, pooled: bool, now_ms: int | None = None, client: str | None = None
    ) -> str:
        """The id a reader gets: the seal and a signed ticket (issue time, where it is stored,
        article, holder)."""
        issued = (int(time.time() * 1000) if now_ms is None else now_ms).to_bytes(6, "big")
        held = self.holder(client) if client is not None else UNBOUND
        body = issued + (b"\x01" if pooled else b"\x00") + self.bind(article_id) + held
        tag = hmac.digest(self._ticket_key, seal.encode() + b"." + body, "sha256")[:TICKET_TAG_BYTES]
        return seal + "." + base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode()

    def _parse(self, captcha_id: str) -> Ticket | None:
        """An issued id, opened and checked; None if it is not one we issued (expiry not checked)."""
        if not (0 < len(captcha_id) <= MAX_ID_CHARS) or not captcha_id.isascii():
            return None
        seal, dot, ticket = captcha_id.partition(".")
        if not dot or len(ticket) not in (-(-4 * TICKET_BYTES // 3), -(-4 * OLD_TICKET_BYTES // 3)):
            return None
        try:
            blob = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4))
        except (binascii.Error, ValueError):
            return None
        body, tag = blob[:-TICKET_TAG_BYTES], blob[-TICKET_TAG_BYTES:]
        expected = hmac.digest(self._ticket_key, seal.encode() + b"." + body, "sha256")[:TICKET_TAG_BYTES]
        if len(blob) not in (TICKET_BYTES, OLD_TICKET_BYTES) or not hmac.compare_digest(tag, expected):
            return None
        code = self.open(seal)
        if code is None:
            return None
        bind, held = body[7 : 7 + BIND_BYTES], body[7 + BIND_BYTES :] or UNBOUND
        return Ticket(seal, code, int.from_bytes(body[:6], "big"), body[6] == 1, bind, held)

    def digest(self, captcha_id: str, answer: str) -> str:
        """The stored form of an answer: bound to the id, so no table of digests carries over."""
        msg = f"{captcha_id}:{normalise_answer(answer)}".encode()
        return hmac.new(self._answer_key, msg, hashlib.sha256).hexdigest()
