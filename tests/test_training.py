"""Training, evaluation, persistence and reports of the spam model (no Redis needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from service.commands.main import main as duyet_main
from service.learning import training
from service.learning.corpus import Labelled, make_record, read_labelled
from service.spam.card import card_path
from service.spam.features import CommentFeatures, records
from service.spam.model import SpamModel
from service.spam.text_signals import fold, signals

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "models" / "seed_corpus.jsonl"
YOUTUBE = ROOT.parent / "shared" / "data" / "youtube-spam-collection" / "Youtube01-Psy.csv"


def small_corpus(path: Path, every: int) -> Path:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[::every]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    tmp = tmp_path_factory.mktemp("train")
    corpus = small_corpus(tmp / "corpus.jsonl", 6)
    artifact = tmp / "model.skops"
    card = training.train(corpus, artifact, tmp / "report.md", progress=False)
    return artifact, card


def test_train_writes_artifact_card_and_report(trained: tuple[Path, dict[str, object]]) -> None:
    """`train` makes an artifact, a card with hashes, versions, metrics and thresholds, and a report."""
    artifact, card = trained
    assert artifact.exists() and card_path(artifact).exists()
    on_disk = json.loads(card_path(artifact).read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(card))
    for key in ("version", "created", "artifact_sha256", "data_sha256", "libraries", "thresholds", "metrics"):
        assert key in on_disk, key
    assert set(on_disk["libraries"]) >= {"scikit-learn", "skops", "numpy"}
    test = on_disk["metrics"]["test"]
    for key in ("precision", "recall", "f1", "macro_f1", "mcc", "roc_auc", "pr_auc", "confusion"):
        assert key in test, key
    assert test["mcc"] > 0.8, test  # held-out families: the pipeline generalises, not just memorises
    report = artifact.parent / "report.md"
    text = report.read_text(encoding="utf-8")
    assert "MCC" in text and "report-pr.png" in text
    for suffix in ("pr", "scores", "confusion"):
        png = artifact.parent / f"report-{suffix}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_is_reproducible(trained: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    """The same corpus trained again, in another process, gives a byte-identical artifact."""
    import subprocess
    import sys

    artifact, card = trained
    corpus = small_corpus(tmp_path / "corpus.jsonl", 6)
    again = tmp_path / "again.skops"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "service.commands.main",
            "train",
            "--corpus",
            str(corpus),
            "--out",
            str(again),
            "--report",
            str(tmp_path / "r.md"),
            "--quiet",
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    card2 = json.loads(card_path(again).read_text(encoding="utf-8"))
    assert card2["artifact_sha256"] == card["artifact_sha256"]
    assert again.read_bytes() == artifact.read_bytes()


def test_trained_model_loads_and_scores(trained: tuple[Path, dict[str, object]]) -> None:
    """The artifact from `train` loads through the serving class and scores."""
    from service.spam.model import SpamInput

    artifact, card = trained
    model = SpamModel.load(artifact)
    assert model.version == card["version"]
    [score] = model.score_batch([SpamInput("Lan", "Ý kiến", "Giá xăng tăng hoài, mong nhà nước bình ổn.")])
    assert score.verdict in ("ham", "suspect", "spam") and score.model_version == model.version


def test_fast_features_equal_sklearn() -> None:
    """The serving path's TF-IDF numbers equal sklearn's own transform, block by block."""
    rows = [
        ("Trang 0912", "Góp ý", "Nhà cái uy tín w w w . k u b e t . c o m nhé!!!", False),
        ("", "", "Đường Láng tắc quá 😡\n\nmong sớm xử lý", True),
        ("Bạn đọc", "Hỏi", "Cho tôi hỏi thủ tục cấp căn cước cần giấy tờ gì ạ?", False),
    ]
    features = CommentFeatures().fit(records(rows * 3))
    plains, lowers, names = features._views(records(rows))
    dense = features.transform(records(rows)).toarray()
    starts = features.block_starts_
    for vec, docs, weight, lo, hi in (
        (features.char_, plains, 1.0, starts[0], starts[1]),
        (features.word_, lowers, 1.0, starts[1], starts[2]),
        (features.name_, names, features.name_weight, starts[2], starts[3]),
    ):
        expected = vec.transform(docs).toarray() * weight
        got = dense[:, lo:hi]
        assert np.abs(got - expected).max() < 1e-6
    assert dense.shape == (3, len(features.get_feature_names_out()))


def test_signals_see_through_obfuscation() -> None:
    """Spelled-out links and spaced phone numbers are found; a plain opinion has neither."""

    def sig(text: str, name: str = "") -> dict[str, float]:
        folded = fold(text)
        from service.spam.text_signals import SIGNALS, deobfuscate

        return dict(zip(SIGNALS, signals(name, text, folded, deobfuscate(folded), False), strict=True))

    assert sig("vào w w w . k u b e t . c o m nhé")["link_hidden"] == 1.0
    assert sig("vào kubet chấm com nhé")["link_hidden"] == 1.0
    assert sig("xem https://abc.xyz/a")["link"] == 1.0
    assert sig("gọi 0 9 0 9 1 2 3 4 5 6 ngay")["phone"] == 1.0
    assert sig("LH: +84 912 345 678")["phone"] == 1.0
    plain = sig("Đường Láng tắc quá, mong thành phố xử lý. Cảm ơn.", name="Nguyễn Văn An")
    assert plain["link"] == plain["link_hidden"] == plain["phone"] == plain["name_digits"] == 0.0
    assert sig("ok", name="kubet88.vip")["name_link"] == 1.0


def test_thresholds_respect_the_ham_budget() -> None:
    """The spam threshold flags at most the allowed share of validation ham; suspect <= spam."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(2000, int), np.ones(400, int)]
    proba = np.clip(np.r_[rng.beta(1, 12, 2000), rng.beta(6, 2, 400)], 0, 1)
    t = training.choose_thresholds(y, proba, max_ham_as_spam=0.003)
    assert t["suspect"] <= t["spam"]
    assert (proba[y == 0] >= t["spam"]).mean() <= 0.003
    assert (proba[y == 1] >= t["suspect"]).mean() >= 0.97


def test_read_labelled_formats(tmp_path: Path) -> None:
    """CSV with named columns, header-less TSV by index, and JSONL all read the same way."""
    csv_path = tmp_path / "a.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["AUTHOR", "CONTENT", "CLASS"])
        w.writerow(["x", "check out my channel", "1"])
        w.writerow(["y", "great song", "0"])
        w.writerow(["y", "great song", "0"])
    data = read_labelled(csv_path, text_col="CONTENT", label_col="CLASS", name_col="AUTHOR", dedupe=True)
    assert data.y.tolist() == [1, 0] and data.rows[0][0] == "x"
    tsv = tmp_path / "b.txt"
    tsv.write_text("spam\tWIN a prize now\nham\tsee you at 5\n", encoding="utf-8")
    data = read_labelled(tsv, fmt="tsv", no_header=True, label_col="0", text_col="1")
    assert data.y.tolist() == [1, 0]
    jl = tmp_path / "c.jsonl"
    jl.write_text(
        '{"content": "vay tiền nhanh", "label": "spam"}\n{"content": "hay", "label": "ham"}\n', encoding="utf-8"
    )
    assert read_labelled(jl).y.tolist() == [1, 0]
    with pytest.raises(ValueError, match="no column"):
        read_labelled(jl, text_col="text")


def test_evaluate_train_on_a_test_on_b_writes_html_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`evaluate --train-on A B` trains a fresh pipeline, prints the metrics and writes an HTML report."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[::10] if r["split"] == "train"), encoding="utf-8"
    )
    b.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[1::10] if r["split"] == "test"), encoding="utf-8"
    )
    report = tmp_path / "eval.html"
    code = duyet_main(
        [
            "evaluate",
            str(b),
            "--train-on",
            str(a),
            "--name-col",
            "name",
            "--title-col",
            "title",
            "--report",
            str(report),
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "MCC" in out and "confusion: tn=" in out
    html = report.read_text(encoding="utf-8")
    assert "<table>" in html and "eval-pr.png" in html
    assert (tmp_path / "eval-confusion.png").exists()


def test_evaluate_with_a_trained_model(
    trained: tuple[Path, dict[str, object]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`evaluate --model` scores a labelled file with a saved model's thresholds."""
    artifact, _ = trained
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()][2::25]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert duyet_main(["evaluate", str(data), "--model", str(artifact), "--quiet"]) == 0
    assert "MCC" in capsys.readouterr().out


@pytest.mark.skipif(not YOUTUBE.exists(), reason="needs ../shared/data/youtube-spam-collection")
def test_outside_data_youtube_psy(tmp_path: Path) -> None:
    """On real English comments (YouTube, Psy; oldest 70% train), the pipeline reaches MCC > 0.85."""
    with YOUTUBE.open(encoding="utf-8") as fh:
        items = list(csv.DictReader(fh))
    train_rows, test_rows = [], []
    for label in ("0", "1"):
        cls = sorted((r for r in items if r["CLASS"] == label), key=lambda r: r["DATE"])
        cut = int(len(cls) * 0.7)
        train_rows += cls[:cut]
        test_rows += cls[cut:]

    def labelled(rs: list[dict[str, str]]) -> Labelled:
        return Labelled(
            [make_record(r["AUTHOR"], "", r["CONTENT"]) for r in rs], np.asarray([int(r["CLASS"]) for r in rs])
        )

    fitted = training.fit(labelled(train_rows), progress=False)
    test = labelled(test_rows)
    m = training.metrics(test.y, training.predict_proba(fitted.model, test, progress=False), fitted.thresholds)
    assert m["mcc"] > 0.85, m
