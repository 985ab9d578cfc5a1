"""Labelled comments: the seed corpus and any labelled CSV, TSV or JSONL, normalised for the model.

Records are normalised exactly as the validation layer does before scoring, so the model learns
from the text it will be shown.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from service.text import normalise

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_CORPUS = MODELS_DIR / "seed_corpus.jsonl"
DEFAULT_ARTIFACT = MODELS_DIR / "spam-model.skops"
DEFAULT_REPORT = MODELS_DIR / "training-report.md"
SPAM_VALUES = ("spam", "1", "true", "yes")

Record = tuple[str, str, str, bool]


@dataclass
class Labelled:
    """Normalised comment records with labels (1 = spam) and, when known, categories."""

    rows: list[Record]
    y: npt.NDArray[np.int_]
    categories: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index: Iterable[int]) -> Labelled:
        idx = list(index)
        cats = [self.categories[i] for i in idx] if self.categories else []
        return Labelled([self.rows[i] for i in idx], self.y[idx], cats)


def make_record(name: str, title: str, content: str) -> Record:
    """Normalise raw fields exactly as the validation layer does before scoring."""
    n = normalise(name)
    t = normalise(title)
    c = normalise(content, multiline=True)
    return (n.text, t.text, c.text, n.had_markup or t.had_markup or c.had_markup)


def load_corpus(path: Path, split: str | None = None) -> Labelled:
    """The seed corpus (JSONL: name, title, content, label, category, split), optionally one split."""
    rows: list[Record] = []
    labels: list[int] = []
    cats: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            item = json.loads(line)
            if split is not None and item.get("split") != split:
                continue
            rows.append(make_record(item.get("name", ""), item.get("title", ""), item["content"]))
            labels.append(1 if str(item["label"]).lower() in SPAM_VALUES else 0)
            cats.append(str(item.get("category", "")))
    return Labelled(rows, np.asarray(labels, dtype=int), cats)


def read_labelled(
    path: Path,
    *,
    text_col: str = "content",
    label_col: str = "label",
    name_col: str | None = None,
    title_col: str | None = None,
    spam_values: Sequence[str] = SPAM_VALUES,
    fmt: str | None = None,
    no_header: bool = False,
    dedupe: bool = False,
) -> Labelled:
    """Any labelled CSV, TSV or JSONL. Columns by name, or by 0-based index with `no_header`."""
    fmt = fmt or {".jsonl": "jsonl", ".json": "jsonl", ".tsv": "tsv", ".csv": "csv"}.get(path.suffix, "tsv")
    items: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        if fmt == "jsonl":
            items = [json.loads(line) for line in fh if line.strip()]
        else:
            delimiter = "\t" if fmt == "tsv" else ","
            if no_header:
                reader = csv.reader(fh, delimiter=delimiter, quoting=csv.QUOTE_NONE if fmt == "tsv" else 0)
                items = [{str(i): v for i, v in enumerate(row)} for row in reader if row]
            else:
                items = list(csv.DictReader(fh, delimiter=delimiter))
    wanted = {v.lower() for v in spam_values}
    rows: list[Record] = []
    labels: list[int] = []
    seen: set[tuple[str, str, str]] = set()
    for item in items:
        if text_col not in item or label_col not in item:
            raise ValueError(f"{path}: no column {text_col!r} or {label_col!r}; columns: {sorted(item)}")
        raw = (
            str(item.get(name_col, "") or "") if name_col else "",
            str(item.get(title_col, "") or "") if title_col else "",
            str(item[text_col] or ""),
        )
        if dedupe:
            if raw in seen:
                continue
            seen.add(raw)
        rows.append(make_record(*raw))
        labels.append(1 if str(item[label_col]).strip().lower() in wanted else 0)
    return Labelled(rows, np.asarray(labels, dtype=int))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
