"""Loading the spam model at start-up without ever crashing the service over it.

Whatever goes wrong, `load_model_safely` returns an error message instead of raising, so a bad
file leaves the service running and not ready, never crashed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from service.settings import DEFAULT_MODEL
from service.spam.card import ModelLoadError
from service.spam.model import SpamModel
from service.spam.signing import check_checksums

log = logging.getLogger(__name__)


def is_shipped(path: Path) -> bool:
    """Whether `path` is the model shipped in the repository (pinned by its checksum file)."""
    try:
        return path.resolve() == DEFAULT_MODEL.resolve()
    except OSError:
        return False


def load_verified(path: Path) -> SpamModel:
    """The model at `path`, checked against the SHA-256 recorded beside it (required for the shipped
    model, checked when present for any other), then against its card; ModelLoadError otherwise."""
    check_checksums(path, required=is_shipped(path))
    return SpamModel.load(path)


def load_model_safely(path: Path | str) -> tuple[SpamModel | None, str | None]:
    """(model, None) or (None, a one-line reason). Never raises."""
    try:
        return load_verified(Path(path)), None
    except ModelLoadError as exc:
        return None, str(exc)
    except Exception as exc:  # the service must stay up (not ready) whatever the file holds
        log.exception("unexpected error loading the spam model from %s", path)
        return None, f"unexpected error loading {path}: {exc!r}"


class ModelCache:
    """The model last loaded from a file, kept while the file is unchanged: a loaded model is
    immutable, and reusing it saves seconds each time the same file is asked for again (an app
    restarted in the same process, a rollback to the shipped file). The key includes the file's
    size and mtime, so a replaced or tampered file is checked again."""

    def __init__(self) -> None:
        self._key: tuple[str, int, int] | None = None
        self._model: SpamModel | None = None

    def load_safely(self, path: Path | str) -> tuple[SpamModel | None, str | None]:
        """As `load_model_safely`, from the cache when the file has not changed."""
        try:
            stat = Path(path).stat()
        except OSError:
            return load_model_safely(path)
        key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
        if key == self._key and self._model is not None:
            return self._model, None
        model, error = load_model_safely(path)
        if model is not None:
            self._key, self._model = key, model
        return model, error
