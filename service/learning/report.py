"""Reports on a model's quality: a metrics table in Markdown or HTML, with PNG plots beside it.

Matplotlib is imported only when plots are drawn: the `duyet` command starts without it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import confusion_matrix, precision_recall_curve

from service.learning.corpus import Labelled


def _plots(
    y: npt.NDArray[np.int_], proba: npt.NDArray[np.float64], thresholds: dict[str, float], out_dir: Path, stem: str
) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    meta = {"Software": None}

    fig, ax = plt.subplots(figsize=(5, 4))
    prec, rec, _ = precision_recall_curve(y, proba)
    ax.plot(rec, prec)
    ax.set(xlabel="recall (spam)", ylabel="precision (spam)", title="Precision-recall", xlim=(0, 1.01), ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    p = out_dir / f"{stem}-pr.png"
    fig.tight_layout()
    fig.savefig(p, dpi=90, metadata=meta)
    plt.close(fig)
    paths["Precision-recall curve"] = p.name

    fig, ax = plt.subplots(figsize=(5, 4))
    bins = [i / 40 for i in range(41)]
    ax.hist(proba[y == 0], bins=bins, alpha=0.6, label="ham", color="tab:blue")
    ax.hist(proba[y == 1], bins=bins, alpha=0.6, label="spam", color="tab:red")
    for name, t in thresholds.items():
        ax.axvline(t, ls="--", color="k", lw=1)
        ax.text(t, ax.get_ylim()[1] * 0.9, f" {name}", fontsize=8)
    ax.set(xlabel="spam probability", ylabel="comments", title="Scores by class", yscale="log")
    ax.legend()
    p = out_dir / f"{stem}-scores.png"
    fig.tight_layout()
    fig.savefig(p, dpi=90, metadata=meta)
    plt.close(fig)
    paths["Score histogram by class"] = p.name

    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    cm = confusion_matrix(y, (proba >= thresholds["spam"]).astype(int), labels=[0, 1])
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["ham", "spam"],
        yticklabels=["ham", "spam"],
        xlabel="verdict spam?",
        ylabel="true label",
        title="Confusion matrix",
    )
    p = out_dir / f"{stem}-confusion.png"
    fig.tight_layout()
    fig.savefig(p, dpi=90, metadata=meta)
    plt.close(fig)
    paths["Confusion matrix"] = p.name
    return paths


METRIC_ROWS = [
    ("precision", "Precision (spam)"),
    ("recall", "Recall (spam)"),
    ("f1", "F1 (spam)"),
    ("macro_f1", "Macro-F1"),
    ("mcc", "MCC"),
    ("accuracy", "Accuracy"),
    ("ham_flagged_spam", "Ham flagged spam"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("suspect_or_spam_recall", "Spam caught as suspect or spam"),
    ("ham_suspect_or_spam", "Ham sent to suspect or spam"),
]


def write_report(
    path: Path,
    *,
    title: str,
    sections: list[tuple[str, dict[str, Any]]],
    thresholds: dict[str, float],
    y: npt.NDArray[np.int_] | None = None,
    proba: npt.NDArray[np.float64] | None = None,
    notes: Sequence[str] = (),
    per_category: dict[str, dict[str, float]] | None = None,
) -> Path:
    """A Markdown (`.md`) or HTML (`.html`) report, with PNG plots beside it."""
    plots = _plots(y, proba, thresholds, path.parent, path.stem) if y is not None and proba is not None else {}
    as_html = path.suffix.lower() in (".html", ".htm")
    lines = [f"# {title}", ""]
    lines += list(notes) + ([""] if notes else [])
    lines += [f"Thresholds: suspect >= {thresholds['suspect']:.4f}, spam >= {thresholds['spam']:.4f}.", ""]
    head = "| metric | " + " | ".join(name for name, _ in sections) + " |"
    lines += [head, "|---" * (len(sections) + 1) + "|"]
    for key, label in METRIC_ROWS:
        vals = [m.get(key, float("nan")) for _, m in sections]
        lines.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    for _, m in sections[-1:]:
        c = m["confusion"]
        lines += [
            "",
            f"Confusion matrix ({sections[-1][0]}, verdict `spam` vs the rest):",
            "",
            "| | predicted ham | predicted spam |",
            "|---|---|---|",
            f"| ham | {c['tn']} | {c['fp']} |",
            f"| spam | {c['fn']} | {c['tp']} |",
        ]
    if per_category:
        lines += [
            "",
            "Per category (test): share sent to `spam` / to `suspect` or `spam`:",
            "",
            "| category | n | spam | suspect or spam |",
            "|---|---|---|---|",
        ]
        for cat, row in sorted(per_category.items()):
            lines.append(f"| {cat} | {int(row['n'])} | {row['spam']:.3f} | {row['flagged']:.3f} |")
    for caption, name in plots.items():
        lines += ["", f"![{caption}]({name})"]
    text = "\n".join(lines) + "\n"
    if as_html:
        text = _markdown_to_html(text, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _markdown_to_html(md: str, title: str) -> str:
    """Just enough Markdown (headings, tables, images, paragraphs) for our own reports."""
    out = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}</style>",
    ]
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            if set(line) <= set("|-"):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            out.append(f"<p><img alt='{html.escape(alt)}' src='{html.escape(src.rstrip(')'))}'></p>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out) + "\n"


def per_category(
    data: Labelled, proba: npt.NDArray[np.float64], thresholds: dict[str, float]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for cat in sorted(set(data.categories)):
        mask = np.asarray([c == cat for c in data.categories])
        out[cat] = {
            "n": float(mask.sum()),
            "spam": float((proba[mask] >= thresholds["spam"]).mean()),
            "flagged": float((proba[mask] >= thresholds["suspect"]).mean()),
        }
    return out
