"""The spam model at serving time: loading safely, scoring, explaining, micro-batching."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from service.learning import training
from service.learning.corpus import load_corpus
from service.spam import process as scoring_process
from service.spam.card import ModelLoadError, card_path
from service.spam.loading import load_model_safely
from service.spam.model import SpamInput, SpamModel, SpamScore
from service.spam.scorer import MAX_PROCESS_LOSSES, ModelNotReady, SpamScorer
from service.text import normalise

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "models" / "seed_corpus.jsonl"
SHIPPED = ROOT / "models" / "spam-model.skops"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on a third of the seed corpus, in a temporary directory."""
    tmp = tmp_path_factory.mktemp("spam-model")
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    corpus = tmp / "corpus.jsonl"
    corpus.write_text("\n".join(lines[::3]) + "\n", encoding="utf-8")
    path = tmp / "model.skops"
    training.train(corpus, path, None, progress=False)
    return path


@pytest.fixture(scope="module")
def model(artifact: Path) -> SpamModel:
    return SpamModel.load(artifact)


def comment(content: str, name: str = "Nguyễn Văn Bình", title: str = "Ý kiến") -> SpamInput:
    n, t, c = normalise(name), normalise(title), normalise(content, multiline=True)
    return SpamInput(n.text, t.text, c.text, had_markup=n.had_markup or t.had_markup or c.had_markup)


def copy_model(artifact: Path, tmp_path: Path) -> Path:
    target = tmp_path / artifact.name
    shutil.copy(artifact, target)
    shutil.copy(card_path(artifact), card_path(target))
    return target


# Written for this test, not taken from the corpus.
SPAM = [
    "Trang cá cược bóng đá uy tín nhất, nạp 200k tặng ngay 200k, rút tiền siêu tốc tại https://vip-keo88.com",
    "Vay tien online giai ngan 15 phut, chi can can cuoc, khong tham dinh. Nhan tin zalo 0987 654 321",
    "Tuyển cộng tác viên chốt đơn tại nhà, lương 700k mỗi ngày, nhắn Telegram 0912345678 để nhận việc",
    "Đầu tư coin mới lãi 4% mỗi ngày, rút gốc bất kỳ lúc nào, vào nhóm kín: t.me/coinvip",
]
HAM = [
    "Ngõ nhà tôi ở phường Nghĩa Đô mấy tuần nay không có ai thu gom rác, mong phường xử lý giúp.",
    "Con tôi học lớp 5, năm nay tiền học thêm tăng nhiều quá, phụ huynh thật sự mệt mỏi.",
    "Trận tối qua đội tuyển chơi quá hay, thủ môn cứu thua xuất sắc ở phút cuối.",
    "Sao cầu vượt ở nút giao này làm lâu thế, người dân đi lại rất vất vả.",
]


def test_loads_and_scores_with_a_card(model: SpamModel) -> None:
    """A trained artifact loads with its card; every score has a probability, verdict and version."""
    scores = model.score_batch([comment(SPAM[0]), comment(HAM[0])])
    assert [s.model_version for s in scores] == [model.version, model.version]
    assert all(0.0 <= s.probability <= 1.0 for s in scores)
    assert model.card["artifact_sha256"] and model.card["thresholds"]["spam"] >= model.card["thresholds"]["suspect"]
    assert model.score_batch([]) == []


def test_unseen_spam_and_ham_land_on_the_right_side(model: SpamModel) -> None:
    """Comments written here, not in the corpus: spam scores above every ham, verdicts agree."""
    spam = model.score_batch([comment(t, name="keo88vip") for t in SPAM])
    ham = model.score_batch([comment(t) for t in HAM])
    assert min(s.probability for s in spam) > max(h.probability for h in ham)
    assert all(s.verdict in ("spam", "suspect") for s in spam), [(s.probability, s.verdict) for s in spam]
    assert all(h.verdict == "ham" for h in ham), [(h.probability, h.verdict) for h in ham]


def test_batch_scores_equal_single_scores(model: SpamModel) -> None:
    """Scoring in a batch gives each comment the same probability as scoring it alone."""
    inputs = [comment(t) for t in SPAM + HAM]
    batch = [s.probability for s in model.score_batch(inputs)]
    single = [model.score_batch([i])[0].probability for i in inputs]
    assert batch == pytest.approx(single, abs=1e-9)


def test_serving_probabilities_match_sklearn(artifact: Path, model: SpamModel) -> None:
    """The fast scoring path gives what the stored sklearn model's predict_proba gives."""
    import skops.io as sio

    from service.spam.artifact import TRUSTED
    from service.spam.features import records

    sk = sio.load(artifact, trusted=list(TRUSTED))
    inputs = [comment(t) for t in SPAM + HAM]
    rows = [(i.name, i.title, i.content, i.had_markup) for i in inputs]
    expected = sk.predict_proba(records(rows))[:, 1]
    assert model.probabilities(rows) == pytest.approx(expected, abs=1e-5)


def test_explanations_name_the_signals_present(model: SpamModel) -> None:
    """A comment with a link, a phone number and betting words gets those reasons, with the terms."""
    text = "Nhà cái uy tín, cá cược thắng lớn, vào ngay https://nhacai-top1.vip hoặc gọi 0909 123 456"
    score = model.score_batch([comment(text, name="nhacai123")])[0]
    by_code = {r.code: r for r in score.reasons}
    assert "link" in by_code, score.reasons
    assert any("nhacai-top1.vip" in t for t in by_code["link"].terms)
    assert by_code["link"].en == "contains a link" and by_code["link"].vi
    if "phone" in by_code:  # phone may rank below the top reasons; when shown it names the number
        assert "0909 123 456" in by_code["phone"].terms
    words = by_code.get("words")
    assert words is not None and words.en.startswith("words: ")
    assert all(t in text or t.lower() in text.lower() for t in words.terms), words.terms
    plain = model.score_batch([comment(HAM[1])])[0]
    assert not {"link", "phone"} & {r.code for r in plain.reasons}


def test_hidden_link_is_read_through(model: SpamModel) -> None:
    """A link spelled out with spaces is still seen as a link, and said to be hidden."""
    score = model.score_batch([comment("vào w w w . k e o n g o n . c o m nhận code 100k")])[0]
    codes = {r.code for r in score.reasons}
    assert "link_hidden" in codes or "link" in codes, score.reasons
    assert score.verdict != "ham"


def test_tampered_artifact_is_refused(artifact: Path, tmp_path: Path) -> None:
    """One changed byte in the artifact: load refuses it, saying it does not match its card."""
    target = copy_model(artifact, tmp_path)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    model, error = load_model_safely(target)
    assert model is None and error is not None and "does not match its model card" in error


def test_missing_files_are_refused(artifact: Path, tmp_path: Path) -> None:
    """No artifact, or no card: not loaded, with a message naming the missing file."""
    model, error = load_model_safely(tmp_path / "nothing.skops")
    assert model is None and error is not None and "nothing.card.json" in error
    target = copy_model(artifact, tmp_path)
    card_path(target).unlink()
    model, error = load_model_safely(target)
    assert model is None and error is not None and "missing" in error
    target2 = copy_model(artifact, tmp_path / "x") if (tmp_path / "x").mkdir() is None else target
    target2.unlink()
    with pytest.raises(ModelLoadError, match="no model artifact"):
        SpamModel.load(target2)


def test_corrupt_artifact_with_matching_hash_is_refused(artifact: Path, tmp_path: Path) -> None:
    """Garbage whose hash was written into the card: refused as unreadable, no exception escapes."""
    target = copy_model(artifact, tmp_path)
    target.write_bytes(b"PK\x03\x04 definitely not a zip")
    card = json.loads(card_path(target).read_text(encoding="utf-8"))
    card["artifact_sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    card_path(target).write_text(json.dumps(card), encoding="utf-8")
    model, error = load_model_safely(target)
    assert model is None and error is not None and "not a readable skops file" in error


def test_untrusted_types_are_refused_before_loading(artifact: Path, tmp_path: Path) -> None:
    """An artifact naming a function (os.system) is refused by the trusted-types list, unbuilt."""
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    target = copy_model(artifact, tmp_path)
    target.write_bytes(sio.dumps(FunctionTransformer(func=os.system)))
    card = json.loads(card_path(target).read_text(encoding="utf-8"))
    card["artifact_sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    card_path(target).write_text(json.dumps(card), encoding="utf-8")
    model, error = load_model_safely(target)
    assert model is None and error is not None and "outside the trusted list" in error
    assert "system" in error


def resign(target: Path, blob: bytes) -> None:
    """Write `blob` as the artifact and vouch for it in its card (as a retraining would)."""
    target.write_bytes(blob)
    card = json.loads(card_path(target).read_text(encoding="utf-8"))
    card["artifact_sha256"] = hashlib.sha256(blob).hexdigest()
    card_path(target).write_text(json.dumps(card), encoding="utf-8")


def test_an_untrusted_type_inside_the_real_pipeline_is_refused(artifact: Path, tmp_path: Path) -> None:
    """Our own pipeline with a function (os.system) slipped into its features, card re-signed:
    the single trusted load refuses the whole file (no separate audit pass is needed)."""
    import skops.io as sio

    from service.spam.artifact import read_artifact

    fitted, _, _ = read_artifact(artifact)
    fitted.calibrated_classifiers_[0].estimator.named_steps["features"].hook = os.system
    target = copy_model(artifact, tmp_path)
    resign(target, sio.dumps(fitted))
    model, error = load_model_safely(target)
    assert model is None and error is not None and "outside the trusted list" in error
    assert "system" in error


def test_vocabularies_are_stored_as_arrays_and_come_back_whole(artifact: Path, model: SpamModel) -> None:
    """The artifact holds each vocabulary as arrays, not a dict skops would walk term by term on
    every load (seconds for the shipped model); loading rebuilds the same vocabularies, names
    and numbers, odd characters included, and writing leaves the fitted object as it was."""
    import numpy as np
    import skops.io as sio

    from service.spam.artifact import TRUSTED
    from service.spam.features import CommentFeatures, records

    with zipfile.ZipFile(artifact) as z:
        schema = z.read("schema.json").decode("utf-8")
    assert '"vocabulary_"' not in schema and '"feature_names_"' not in schema
    assert schema.count('"__loader__"') < 1_000  # the dicts made one node a term or more
    for vec in (model._features.char_, model._features.word_, model._features.name_):
        assert sorted(vec.vocabulary_.values()) == list(range(len(vec.vocabulary_))) != []

    rows = [*load_corpus(CORPUS).rows[::40], *ODD, ("x\x00", "", "tail NUL\x00 and 𝐀\x00", False)]
    fitted = CommentFeatures().fit(records(rows))
    fitted.tfidf()
    expected = fitted.transform(records(rows))
    again = sio.loads(sio.dumps(fitted), trusted=list(TRUSTED))
    for attr in ("char_", "word_", "name_"):
        assert getattr(again, attr).vocabulary_ == getattr(fitted, attr).vocabulary_
    assert any(t.endswith("\x00") for t in again.char_.vocabulary_)  # numpy's str arrays would lose these
    assert again.feature_names_.dtype == object
    assert again.feature_names_.tolist() == fitted.feature_names_.tolist()
    assert (again.transform(records(rows)) != expected).nnz == 0
    assert "vocabulary_" in vars(fitted.char_) and "feature_names_" in vars(fitted)
    assert fitted._transform is not None
    assert np.array_equal(again.char_index_[0], fitted.char_index_[0])


def test_an_artifact_with_the_vocabularies_as_dicts_still_loads(
    artifact: Path, model: SpamModel, tmp_path: Path
) -> None:
    """Artifacts written before the vocabularies were packed (older registry versions) hold
    them as dicts and the feature names as a list: they still load, and score as the packed one."""
    import skops.io as sio

    from service.spam.artifact import read_artifact

    fitted, _, _ = read_artifact(artifact)
    features = fitted.calibrated_classifiers_[0].estimator.named_steps["features"]
    # What the writer used to store: the plain attributes, dicts and all.
    old_state = {k: v for k, v in vars(features).items() if k != "_transform"}
    features.__getstate__ = lambda: old_state
    target = copy_model(artifact, tmp_path)
    resign(target, sio.dumps(fitted))
    with zipfile.ZipFile(target) as z:
        assert '"vocabulary_"' in z.read("schema.json").decode("utf-8")
    legacy = SpamModel.load(target)
    rows = _sample_rows()
    assert legacy.probabilities(rows).tolist() == model.probabilities(rows).tolist()
    assert legacy._names == model._names


def test_wrong_kind_of_object_is_refused(artifact: Path, tmp_path: Path) -> None:
    """A trusted but wrong object (a bare LinearSVC) is refused as not a duyet pipeline."""
    import numpy as np
    import skops.io as sio
    from sklearn.svm import LinearSVC

    target = copy_model(artifact, tmp_path)
    target.write_bytes(sio.dumps(LinearSVC().fit(np.eye(4), [0, 1, 0, 1])))
    card = json.loads(card_path(target).read_text(encoding="utf-8"))
    card["artifact_sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    card_path(target).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not a calibrated duyet pipeline"):
        SpamModel.load(target)


def test_bad_thresholds_in_card_are_refused(artifact: Path, tmp_path: Path) -> None:
    """A card whose thresholds are out of order is refused."""
    target = copy_model(artifact, tmp_path)
    card = json.loads(card_path(target).read_text(encoding="utf-8"))
    card["thresholds"] = {"suspect": 0.9, "spam": 0.2}
    card_path(target).write_text(json.dumps(card), encoding="utf-8")
    model, error = load_model_safely(target)
    assert model is None and error is not None and "suspect <= spam" in error


async def test_scorer_not_ready_without_model() -> None:
    """No model: not ready, no version, and scoring raises ModelNotReady."""
    scorer = SpamScorer(None)
    assert not scorer.ready and scorer.version is None
    with pytest.raises(ModelNotReady):
        await scorer.score(comment(HAM[0]))
    await scorer.close()


async def test_scorer_micro_batches_concurrent_calls(model: SpamModel) -> None:
    """Many concurrent calls are scored in fewer batches, each result equal to direct scoring."""
    scorer = SpamScorer(model, max_batch=16, max_wait_ms=5.0)
    inputs = [comment(t) for t in (SPAM + HAM) * 8]
    results = await asyncio.gather(*(scorer.score(i) for i in inputs))
    direct = model.score_batch(inputs)
    assert [r.probability for r in results] == pytest.approx([d.probability for d in direct], abs=1e-9)
    assert scorer.scored == len(inputs)
    assert scorer.batches < len(inputs) / 2
    await scorer.close()
    assert not scorer.ready
    with pytest.raises(ModelNotReady):
        await scorer.score(inputs[0])


async def test_scorer_swap_changes_the_model(model: SpamModel, artifact: Path) -> None:
    """After swap, scores carry the new model's version; the event loop stays responsive."""
    scorer = SpamScorer(None)
    assert not scorer.ready
    scorer.swap(model)
    assert scorer.ready and scorer.version == model.version
    other = SpamModel.load(artifact)
    other.version = "swapped-in"
    scorer.swap(other)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    result = await asyncio.gather(*(scorer.score(comment(t)) for t in SPAM * 20))
    task.cancel()
    assert {r.model_version for r in result} == {"swapped-in"}
    assert ticks >= 1
    await scorer.close()


async def until(done: Callable[[], object], within_s: float = 120.0, every_s: float = 0.05) -> None:
    """Wait for a scoring process to get somewhere (loading a model takes seconds there)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not done():
        assert loop.time() < deadline, "the scoring process did not get there in time"
        await asyncio.sleep(every_s)


def alive(pid: int | None) -> bool:
    return pid is not None and any(child.pid == pid for child in multiprocessing.active_children())


def versions_of(artifact: Path, tmp_path: Path, count: int) -> list[SpamModel]:
    """`count` models with versions of their own (copies of one artifact, each card renamed)."""
    models = []
    for i in range(count):
        target = tmp_path / f"v{i}" / artifact.name
        target.parent.mkdir()
        shutil.copy(artifact, target)
        card = json.loads(card_path(artifact).read_text(encoding="utf-8"))
        card["version"] = f"{card['version']}-copy{i}"
        card_path(target).write_text(json.dumps(card), encoding="utf-8")
        models.append(SpamModel.load(target))
    return models


BURST = [comment(t) for t in (SPAM + HAM) * 4]


async def burst(scorer: SpamScorer, times: int = 1) -> list[SpamScore]:
    return await asyncio.gather(*(scorer.score(i) for i in BURST * times))


async def test_a_scoring_process_scores_bursts_and_follows_a_swap(model: SpamModel) -> None:
    """process=True: bursts are scored in a process of its own, which loads the same verified file;
    the scores equal in-process ones, before and after a swap to another model."""
    scorer = SpamScorer(model, max_batch=16, max_wait_ms=5.0, process=True)
    try:
        # The first burst is scored in the thread while the process starts and loads the model.
        assert await burst(scorer) == model.score_batch(BURST)
        assert scorer.process_batches == 0
        await until(lambda: model.version in scorer.process_versions)
        assert alive(scorer.process_pid)
        assert await burst(scorer) == model.score_batch(BURST)
        assert scorer.process_batches > 0
        shipped = SpamModel.load(SHIPPED)
        assert shipped.version != model.version
        scorer.swap(shipped)
        await burst(scorer)
        await until(lambda: shipped.version in scorer.process_versions)
        before = scorer.process_batches
        swapped = await burst(scorer)
        assert scorer.process_batches > before
        assert swapped == shipped.score_batch(BURST)
        assert {s.model_version for s in swapped} == {shipped.version}
    finally:
        await scorer.close()


async def test_the_scoring_process_refuses_a_file_replaced_since_loading(
    model: SpamModel, artifact: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file behind the served model is replaced: the process refuses it (version mismatch),
    and the served model goes on scoring every burst in the thread."""
    target = copy_model(artifact, tmp_path)
    served = SpamModel.load(target)
    shutil.copy(SHIPPED, target)
    shutil.copy(card_path(SHIPPED), card_path(target))
    scorer = SpamScorer(served, max_batch=16, max_wait_ms=5.0, process=True)
    try:
        with caplog.at_level(logging.WARNING, logger="service.spam.scorer"):
            await burst(scorer)
            await until(lambda: "could not load model" in caplog.text)
        assert await burst(scorer) == served.score_batch(BURST)
        assert scorer.process_batches == 0 and not scorer.process_versions
        assert scorer.process_losses == 0
    finally:
        await scorer.close()


async def test_a_scoring_process_killed_mid_burst_loses_no_comment(
    model: SpamModel, caplog: pytest.LogCaptureFixture
) -> None:
    """The scoring process dies (OOM killer, a crash) while batches are in flight: they are scored
    in the thread, the death is logged once, and a new process takes over."""
    scorer = SpamScorer(model, max_batch=16, max_wait_ms=5.0, process=True)
    try:
        await burst(scorer)
        await until(lambda: model.version in scorer.process_versions)
        first = scorer.process_pid
        assert first is not None
        with caplog.at_level(logging.WARNING, logger="service.spam.scorer"):
            running = asyncio.ensure_future(burst(scorer, times=40))  # 80 batches
            await until(lambda: scorer.process_batches >= 2, every_s=0.001)
            os.kill(first, signal.SIGKILL)
            assert await running == model.score_batch(BURST * 40)
        assert caplog.text.count("scoring process died") == 1
        assert scorer.process_losses == 1
        before = scorer.process_batches
        await burst(scorer)  # starts a new process
        await until(lambda: model.version in scorer.process_versions)
        assert scorer.process_pid not in (None, first)
        assert await burst(scorer) == model.score_batch(BURST)
        assert scorer.process_batches > before
    finally:
        await scorer.close()


async def test_a_scoring_process_dying_while_loading_is_replaced(
    model: SpamModel, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed while it loads the model: that is not the model's fault (it is not refused); the
    next process loads it. One that keeps dying is given up on, and the thread scores for good."""
    assert MAX_PROCESS_LOSSES == 3
    scorer = SpamScorer(model, max_batch=16, max_wait_ms=5.0, process=True)
    try:
        with caplog.at_level(logging.WARNING, logger="service.spam.scorer"):
            for losses in (1, 2):  # killed while loading, twice
                await burst(scorer)  # starts a process, which loads the model
                await until(lambda: scorer.process_pid is not None, every_s=0.001)
                pid = scorer.process_pid
                assert pid is not None and model.version not in scorer.process_versions
                os.kill(pid, signal.SIGKILL)
                await until(lambda: scorer.process_losses == losses)  # noqa: B023 (awaited here)
                assert scorer.process_pid is None
            await burst(scorer)  # a third process loads it, and scores
            await until(lambda: model.version in scorer.process_versions)
            assert await burst(scorer) == model.score_batch(BURST)
            assert scorer.process_batches > 0
            pid = scorer.process_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # the third death: given up on
            assert await burst(scorer) == model.score_batch(BURST)
        assert scorer.process_losses == 3
        assert "could not load" not in caplog.text
        assert "scoring in a thread from now on" in caplog.text
        before = scorer.process_batches
        assert await burst(scorer, times=3) == model.score_batch(BURST * 3)
        await asyncio.sleep(0.5)
        assert scorer.process_pid is None and scorer.process_batches == before
    finally:
        await scorer.close()


async def test_going_back_to_a_model_the_process_dropped(artifact: Path, tmp_path: Path) -> None:
    """The process keeps the last few models; rolling back to an older one is scored in the thread
    while the process loads it again (never loaded inline, which would hold every batch queued)."""
    models = versions_of(artifact, tmp_path, scoring_process.WORKER_KEEP + 1)
    scorer = SpamScorer(models[0], max_batch=16, max_wait_ms=5.0, process=True)
    try:
        for m in models:
            scorer.swap(m)
            await burst(scorer)
            await until(lambda: m.version in scorer.process_versions)  # noqa: B023 (awaited here)
            assert len(scorer.process_versions) <= scoring_process.WORKER_KEEP
        oldest = models[0]
        assert oldest.version not in scorer.process_versions
        scorer.swap(oldest)
        before = scorer.process_batches
        assert await burst(scorer) == oldest.score_batch(BURST)
        assert scorer.process_batches == before  # the thread scored them
        await until(lambda: oldest.version in scorer.process_versions)
        assert await burst(scorer) == oldest.score_batch(BURST)
        assert scorer.process_batches > before
        # A version the parent believes loaded but the process dropped: the batch still scores.
        scorer._remote[models[1].version] = None
        scorer.swap(models[1])
        assert await burst(scorer) == models[1].score_batch(BURST)
        await until(lambda: models[1].version in scorer.process_versions)
        assert scorer.process_losses == 0
    finally:
        await scorer.close()


async def test_closing_while_the_process_loads_stops_it(model: SpamModel) -> None:
    scorer = SpamScorer(model, max_batch=16, max_wait_ms=5.0, process=True)
    await burst(scorer)
    await until(lambda: scorer.process_pid is not None, every_s=0.001)
    pid = scorer.process_pid
    assert alive(pid) and model.version not in scorer.process_versions
    await scorer.close()
    assert not alive(pid)
    with pytest.raises(ModelNotReady):
        await scorer.score(BURST[0])


def test_zip_members_are_not_executed(artifact: Path) -> None:
    """The artifact is a skops zip of JSON and .npy arrays only: nothing pickled inside."""
    with zipfile.ZipFile(artifact) as z:
        names = z.namelist()
    assert "schema.json" in names
    assert all(n == "schema.json" or n.endswith(".npy") for n in names), names


# ---------------------------------------------------------------------- the fast scoring path
# Odd texts for the serving path: spelled-out links and numbers, a name with a link, emoji,
# characters whose lower case is longer (the explanation then cannot align the folded text),
# CJK and superscript digits (outside the character-class table), an empty comment.
ODD = [
    ("kubet88.vip", "Tiêu đề", "w w w . k u b e t . c o m và 0 9 0 9 1 2 3 4 5 6", True),
    ("x", "", "vào kubet chấm com nhé, hoặc abc (dot) net", False),
    ("Nguyễn", "", "NHÀ CÁI UY TÍN!!!!! 😡😡😡😡😡😡 cá cược\n\n\nthắng lớnnnnnn", False),
    ("İlhan", "İSTANBUL", "Straße ﬁ ² ³ 中文 テスト 0912.345.678", False),
    ("", "", "", False),
    ("", "", "hahaha " * 60 + "!" * 300, False),  # counts past the 1 + log(count) table
]


def _sample_rows() -> list[tuple[str, str, str, bool]]:
    rows = list(load_corpus(CORPUS).rows[::15])
    return rows + ODD + [(comment(t).name, comment(t).title, comment(t).content, False) for t in SPAM + HAM]


def test_fast_features_equal_the_reference_path(model: SpamModel) -> None:
    """The serving path's (row, column, value) triples equal sklearn's own TfidfVectorizer
    transform of each block, odd texts included; the signals are each comment's `view`."""
    import numpy as np
    from scipy import sparse

    from service.spam.features import records
    from service.spam.text_signals import view

    features = model._features
    rows = _sample_rows()
    (r, c, v), sig, _ = features.tfidf().transform(rows)
    assert np.array_equal(np.lexsort((c, r)), np.arange(len(r)))  # ordered by row, then column
    got = sparse.csr_matrix((v, (r, c)), shape=(len(rows), features.block_starts_[3])).tocsc()
    plains, lowers, names = features._views(records(rows))
    starts = features.block_starts_
    for vec, docs, weight, lo, hi in (
        (features.char_, plains, 1.0, starts[0], starts[1]),
        (features.word_, lowers, 1.0, starts[1], starts[2]),
        (features.name_, names, features.name_weight, starts[2], starts[3]),
    ):
        assert abs(got[:, lo:hi] - vec.transform(docs) * weight).max() < 1e-6
    expected = np.asarray([view(*row)[5] for row in rows], dtype=np.float32) * np.float32(features.signal_weight)
    assert np.array_equal(sig, expected)


def test_fast_scores_equal_sklearn_on_the_corpus(artifact: Path, model: SpamModel) -> None:
    """On a sample of the seed corpus and odd texts, served probabilities equal the sklearn pipeline's."""
    import skops.io as sio

    from service.spam.artifact import TRUSTED
    from service.spam.features import records

    rows = _sample_rows()
    expected = sio.load(artifact, trusted=list(TRUSTED)).predict_proba(records(rows))[:, 1]
    assert model.probabilities(rows) == pytest.approx(expected, abs=1e-5)


def test_reasons_do_not_depend_on_the_batch(model: SpamModel) -> None:
    """Each comment gets the same probability and reasons in a batch as alone (explanations are batched)."""
    inputs = [SpamInput(n, t, c, had_markup=m) for n, t, c, m in _sample_rows()]
    batch = model.score_batch(inputs)
    assert any(s.reasons for s in batch) and any(r.code == "words" for s in batch for r in s.reasons)
    for inp, together in zip(inputs, batch, strict=True):
        alone = model.score_batch([inp])[0]
        assert alone.reasons == together.reasons
        assert alone.probability == pytest.approx(together.probability, abs=1e-9)


def test_char_counts_equal_str_methods() -> None:
    """Letters, capitals and digits are counted as str.isalpha/isupper/isdigit count them, past the table too."""
    from service.spam.text_signals import char_counts

    for text in ["", "Hà Nội 2024!", "ĐƯỜNG LÁNG ² ³ ½ Ⅻ", "😡 中文 𝐀𝐁𝐂 １２３ ＡＢＣ Ⓐⓑ", "İstanbul ﬁ Straße"]:
        expected = (sum(map(str.isalpha, text)), sum(map(str.isupper, text)), sum(map(str.isdigit, text)))
        assert char_counts(text) == expected, text


async def test_closing_fails_a_batch_waiting_for_its_burst(model: SpamModel) -> None:
    """Callers in a batch still waiting for the rest of its burst get ModelNotReady on close, not a hang."""
    scorer = SpamScorer(model, max_batch=64, max_wait_ms=60_000.0)
    calls = [asyncio.ensure_future(scorer.score(comment(t))) for t in HAM[:2]]
    for _ in range(5):
        await asyncio.sleep(0)
    await scorer.close()
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(r, ModelNotReady) for r in results), results


async def test_closing_while_the_process_starts_leaves_none(model: SpamModel) -> None:
    """Closed right after the first burst asked for a process (usually still starting): none is left."""
    before = {child.pid for child in multiprocessing.active_children()}
    scorer = SpamScorer(model, max_batch=16, max_wait_ms=5.0, process=True)
    await burst(scorer)
    await scorer.close()
    assert {child.pid for child in multiprocessing.active_children()} <= before
    assert scorer.process_pid is None
