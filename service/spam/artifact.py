"""The model artifact on disk: a skops file (no pickle) and its model card beside it.

Reading refuses any type not listed in `TRUSTED`, and a file whose SHA-256 differs from the one in
its card (`<artifact>.card.json`); every refusal is a `ModelLoadError` saying what was wrong.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

from service.spam.card import ModelLoadError, card_path, read_card, thresholds
from service.spam.features import TRUSTED_TYPES, alias_legacy_module

# Every type the artifact may hold beyond skops' built-in safe set, one by one. A file naming
# anything else is refused before a single object is built.
TRUSTED: tuple[str, ...] = (
    *TRUSTED_TYPES,
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
)


def read_artifact(path: Path) -> tuple[Any, dict[str, Any], dict[str, float]]:
    """Verify an artifact against its card and load it: (the fitted estimator, card, thresholds)."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    card = read_card(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelLoadError(f"no model artifact at {path}") from exc
    except OSError as exc:
        raise ModelLoadError(f"cannot read model artifact {path}: {exc}") from exc
    expected = str(card.get("artifact_sha256", ""))
    actual = hashlib.sha256(blob).hexdigest()
    if not expected:
        raise ModelLoadError(f"model card {card_path(path)} has no artifact_sha256")
    if actual != expected:
        raise ModelLoadError(
            f"{path} does not match its model card (sha256 {actual[:12]}…, card says {expected[:12]}…): "
            "the file was changed or replaced; refusing it"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            if "schema.json" not in archive.namelist():
                raise ValueError("no schema.json in the archive")
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a readable skops file: {exc!r}") from exc
    alias_legacy_module()
    # One pass: `loads` audits the whole tree against `trusted` before building any object (skops
    # `_persist.loads`: get_tree, audit_tree, then construct) and raises on a type outside it. A
    # separate `get_untrusted_types` pass built and walked the same tree again, doubling the load time.
    try:
        model = sio.loads(blob, trusted=list(TRUSTED))
    except UntrustedTypesFoundException as exc:
        raise ModelLoadError(f"{path} holds types outside the trusted list, refusing: {exc}") from exc
    except Exception as exc:  # a corrupt schema or array: any error means "not loadable"
        raise ModelLoadError(f"{path} could not be loaded: {exc!r}") from exc
    return model, card, thresholds(card, path)
