"""Who vouches for a model: signatures of registry versions, checksums of the shipped model.

A card vouches for its artifact (its SHA-256), but anyone who can write the store can write a
matching pair: an artifact and a card saying so. So the registry keeps, beside each version, an
HMAC-SHA256 of the artifact and its card under a key derived from the service secret
(`DUYET_SECRET_KEY`): only a process holding the secret (the service, `duyet retrain`) can register
a version every replica will load. A version whose signature is missing or wrong is refused on
promotion and on load, and the replica keeps the model it has.

The shipped model (`models/spam-model.skops`) cannot carry a signature (the repository holds no
secret): its artifact and card are pinned by their SHA-256 in `spam-model.sha256` beside them,
in `sha256sum` format, written by training and checked by the loader.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from service import errors
from service.spam.card import ModelLoadError, card_path

_KEY_LABEL = b"duyet model registry signature v1"


class UnsignedModel(errors.Conflict, ModelLoadError):
    """A registry version without a valid signature: not written by a holder of the secret. A load
    refuses it (a ModelLoadError: the replica keeps its model); a promotion too (a domain error)."""

    code = "model_signature_invalid"


def signing_key(secret: bytes) -> bytes:
    """The registry's signing key, derived from the service secret (so it signs nothing else)."""
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def sign(key: bytes, blob: bytes, card_json: str) -> str:
    """The signature of one version: HMAC-SHA256 over the artifact's SHA-256 and the card's bytes."""
    message = hashlib.sha256(blob).digest() + card_json.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify(key: bytes, blob: bytes, card_json: str, signature: str | None, version: str) -> None:
    """UnsignedModel unless `signature` is this artifact and card's, under `key`."""
    if not signature:
        raise UnsignedModel(f"model version {version!r} has no signature in the registry; refusing it")
    if not hmac.compare_digest(sign(key, blob, card_json), signature):
        raise UnsignedModel(
            f"model version {version!r} does not match its signature (artifact or card changed in the "
            "store, or signed with another secret); refusing it"
        )


# --------------------------------------------------------------------------- the shipped file
def checksum_path(artifact: Path) -> Path:
    """`spam-model.skops` -> `spam-model.sha256` (the artifact's and the card's SHA-256)."""
    return artifact.with_suffix(".sha256")


def write_checksums(artifact: Path) -> Path:
    """Record the SHA-256 of the artifact and its card beside them (`sha256sum -c` reads it)."""
    card = card_path(artifact)
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in (artifact, card)]
    target = checksum_path(artifact)
    target.write_text("".join(lines), encoding="utf-8")
    return target


def check_checksums(artifact: Path, required: bool) -> None:
    """ModelLoadError unless the artifact and its card match the SHA-256 recorded beside them.

    Without the file: refused when `required` (the shipped model), else nothing to check (a
    model an operator trained elsewhere, vouched for by its card only)."""
    listing = checksum_path(artifact)
    try:
        text = listing.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        if required:
            raise ModelLoadError(f"{listing} is missing; refusing a shipped model nobody pinned") from exc
        return
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{listing} is unreadable: {exc}") from exc
    recorded: dict[str, str] = {}
    for line in text.splitlines():
        digest, _, name = line.strip().partition("  ")
        if digest and name:
            recorded[name.lstrip("*")] = digest.lower()
    for path in (artifact, card_path(artifact)):
        expected = recorded.get(path.name)
        if expected is None:
            raise ModelLoadError(f"{listing} records no SHA-256 for {path.name}; refusing it")
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
        if not hmac.compare_digest(actual, expected):
            raise ModelLoadError(
                f"{path} does not match the SHA-256 recorded in {listing.name} "
                f"({actual[:12]}…, recorded {expected[:12]}…): the file was changed; refusing it"
            )
