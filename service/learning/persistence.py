"""Writing a trained model: the skops artifact in canonical bytes, and its model card beside it.

The same training makes the same bytes, so an artifact's sha256 names what was trained; the card
says what it was trained on, with which libraries, and how well it did.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import platform
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.calibration import CalibratedClassifierCV


@dataclass
class Fitted:
    """A trained model with what training measured: what `save` writes (artifact and card)."""

    model: CalibratedClassifierCV
    thresholds: dict[str, float]
    validation: dict[str, Any]


def _canonical_zip(data: bytes) -> bytes:
    """skops names array files and memo ids after `id()` and stamps the clock into the zip; give
    them stable names and a fixed date, so the same training makes the same bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(src.read("schema.json"))
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = ids.setdefault(value, len(ids) + 1)
                elif key == "file" and isinstance(value, str) and value in src.namelist():
                    suffix = Path(value).suffix
                    out[key] = files.setdefault(value, f"{len(files) + 1:05d}{suffix}")
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    schema = walk(schema)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as dst:
        for old, new in sorted(files.items(), key=lambda kv: kv[1]):
            dst.writestr(
                zipfile.ZipInfo(new, date_time=(1980, 1, 1, 0, 0, 0)), src.read(old), compress_type=zipfile.ZIP_DEFLATED
            )
        dst.writestr(
            zipfile.ZipInfo("schema.json", date_time=(1980, 1, 1, 0, 0, 0)),
            json.dumps(schema, indent=1, sort_keys=False),
            compress_type=zipfile.ZIP_DEFLATED,
        )
    return buffer.getvalue()


def library_versions() -> dict[str, str]:
    import scipy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def save(
    fitted: Fitted,
    artifact: Path,
    *,
    data_sha256: str,
    test: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the artifact (skops, canonical bytes) and its card next to it; return the card."""
    import skops.io as sio

    from service.spam.artifact import TRUSTED
    from service.spam.card import card_path

    blob = _canonical_zip(sio.dumps(fitted.model))
    untrusted = sio.get_untrusted_types(data=blob)
    unexpected = sorted(set(untrusted) - set(TRUSTED))
    if unexpected:
        raise RuntimeError(f"the model contains types the loader does not trust: {unexpected}")
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    features = fitted.model.calibrated_classifiers_[0].estimator.named_steps["features"]
    card: dict[str, Any] = {
        "name": "duyet spam model",
        "version": f"{dt.date.today():%Y.%m.%d}-{sha[:10]}",
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "artifact": artifact.name,
        "artifact_sha256": sha,
        "data_sha256": data_sha256,
        "libraries": library_versions(),
        "trusted_types": list(TRUSTED),
        "model": {
            "features": {k: list(v) if isinstance(v, tuple) else v for k, v in features.get_params().items()},
            "classifier": "LinearSVC(C=1.0), Platt sigmoid fitted on its 5-fold out-of-fold scores",
        },
        "thresholds": fitted.thresholds,
        "metrics": {"validation_out_of_fold": fitted.validation, **({"test": test} if test else {})},
        **(extra or {}),
    }
    card_path(artifact).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    # Pin both files by their SHA-256 (the shipped model's only integrity check: no secret in the repo).
    from service.spam.signing import write_checksums

    write_checksums(artifact)
    return card
