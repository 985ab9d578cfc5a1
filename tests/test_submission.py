"""POST /v1/comments through the real app, real Redis and the shipped spam model (captcha test mode)."""

from __future__ import annotations

import asyncio
import multiprocessing
import unicodedata
from typing import Any

import pytest
from redis.asyncio import Redis

from service.http import appkeys
from service.review import bans, moderators, states, transitions
from service.store.scripts import RATELIMIT
from tests.clients import MakeClient
from tests.queue_helpers import auth, token_for
from tests.submission_helpers import ARTICLE, CODE, Client, comment, comment_count, new_captcha, stored
from tests.test_spam_model import until


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client(captcha_test_code=CODE)


@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
async def test_accepted_and_stored(client: Client, as_form: bool) -> None:
    """A good comment gets 202 {id, status: pending}; the record holds everything the moderator needs."""
    data = comment(await new_captcha(client), content="<b>Rất</b> hay,\u200b cảm ơn tác giả!")
    kwargs: dict[str, Any] = {"data": data} if as_form else {"json": data}
    resp = await client.post("/v1/comments", headers={"User-Agent": "pytest-ua"}, **kwargs)
    body = await resp.json()
    assert resp.status == 202, body
    assert set(body) == {"id", "status"} and body["status"] == "pending"
    record = await stored(client, body["id"])
    assert record["state"] == "pending"
    assert record["article_id"] == ARTICLE
    assert record["name"] == "Nguyễn Văn An"
    assert record["phone"] == "+84912345678"
    assert record["content"] == "Rất hay, cảm ơn tác giả!"
    assert record["raw"]["content"] == data["content"]
    assert "captcha_answer" not in record["raw"]
    assert record["client"] == "127.0.0.1"
    assert record["user_agent"] == "pytest-ua"
    assert 0.0 <= float(record["spam_probability"]) <= 1.0
    assert record["verdict"] and record["model_version"]
    assert isinstance(record["reasons"], list)
    assert record["signals"]["had_markup"] is True and record["signals"]["had_invisible"] is True
    assert int(record["created_at"]) > 0
    assert await comment_count(client) == 1


async def test_the_raw_snapshot_is_stored_once_and_shown_whole(client: Client, redis: Redis) -> None:
    """The raw snapshot keeps only what normalisation changed (here the phone as typed and the
    marked-up content), not a second copy of the text; an admin still sees the whole of it as typed."""
    data = comment(await new_captcha(client), content="<i>Đồng ý</i> với bài viết này", phone="0912 345 678")
    resp = await client.post("/v1/comments", json=data)
    assert resp.status == 202
    cid = (await resp.json())["id"]
    record = await stored(client, cid)
    assert set(record["raw"]) == {"content", "phone"}
    app = client.app
    assert app is not None
    admin = await token_for(redis, app[appkeys.KEYS], "boss-raw", moderators.Role.ADMIN)
    seen = await (await client.get(f"/v1/comments/{cid}", headers=auth(admin))).json()
    assert seen["raw"]["phone"] == "0912 345 678"
    assert seen["raw"]["content"] == "&lt;i&gt;Đồng ý&lt;/i&gt; với bài viết này"  # shown escaped
    assert seen["raw"]["title"] == data["title"] and seen["raw"]["name"] == data["name"]
    assert seen["raw"]["article_id"] == ARTICLE


async def test_response_never_reveals_the_score(client: Client) -> None:
    """Even blatant spam gets the same public answer: no score, verdict or reasons."""
    data = comment(
        await new_captcha(client),
        title="KIẾM TIỀN ONLINE 100%",
        content="Truy cập ngay nhacai88.com nhận thưởng 500k!!! Liên hệ 0909 123 456 zalo",
    )
    resp = await client.post("/v1/comments", json=data)
    text = await resp.text()
    assert resp.status == 202
    assert set((await resp.json()).keys()) == {"id", "status"}
    for word in ("spam", "score", "probability", "verdict", "reason"):
        assert word not in text.lower()


async def test_decomposed_name_stored_like_composed(client: Client) -> None:
    """Names with diacritics in NFD and NFC are stored identically."""
    name = unicodedata.normalize("NFC", "Phạm Thị Thu Hường")
    ids = []
    for form_name in (name, unicodedata.normalize("NFD", name)):
        resp = await client.post("/v1/comments", json=comment(await new_captcha(client), name=form_name))
        assert resp.status == 202
        ids.append((await resp.json())["id"])
    first, second = [await stored(client, i) for i in ids]
    assert first["name"] == second["name"] == name


@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
@pytest.mark.parametrize(
    ("lang", "expected"),
    [(None, "Họ tên phải có ít nhất 2 ký tự."), ("en-US,en;q=0.9", "Name must be at least 2 characters long.")],
)
async def test_every_field_error_at_once(client: Client, as_form: bool, lang: str | None, expected: str) -> None:
    """Broken fields are all reported in one 422, in Vietnamese by default and English on request."""
    data = comment(await new_captcha(client), name="A", title="", phone="123", content="hey")
    headers = {"Accept-Language": lang} if lang else {}
    kwargs: dict[str, Any] = {"data": data} if as_form else {"json": data}
    resp = await client.post("/v1/comments", headers=headers, **kwargs)
    body = await resp.json()
    assert resp.status == 422
    assert body["error"]["code"] == "validation_failed"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("name", "too_short"),
        ("phone", "invalid_phone"),
        ("title", "required"),
        ("content", "too_short"),
    ]
    assert body["errors"][0]["message"] == expected
    assert await comment_count(client) == 0


async def test_fixing_a_field_keeps_the_captcha(client: Client) -> None:
    """Fields are checked before the captcha: after a 422 the same captcha still works."""
    captcha_id = await new_captcha(client)
    first = await client.post("/v1/comments", json=comment(captcha_id, name="1"))
    assert first.status == 422
    second = await client.post("/v1/comments", json=comment(captcha_id))
    assert second.status == 202, await second.text()


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_wrong_and_reused_captcha(client: Client, lang: str) -> None:
    """A wrong code is captcha_invalid; a used one captcha_expired; nothing is stored for either."""
    captcha_id = await new_captcha(client)
    wrong = await client.post(
        "/v1/comments", json=comment(captcha_id, captcha_answer="NOPE9"), headers={"Accept-Language": lang}
    )
    body = await wrong.json()
    assert wrong.status == 422
    assert body["errors"][0]["field"] == "captcha_answer"
    assert body["errors"][0]["code"] in ("captcha_invalid", "captcha_expired")
    captcha_id = await new_captcha(client)
    assert (await client.post("/v1/comments", json=comment(captcha_id))).status == 202
    reused = await client.post("/v1/comments", json=comment(captcha_id), headers={"Accept-Language": lang})
    body = await reused.json()
    assert reused.status == 422
    assert body["errors"] == [
        {
            "field": "captcha_answer",
            "code": "captcha_expired",
            "message": (
                "The captcha code has expired or was already used, please get a new one."
                if lang == "en"
                else "Mã xác nhận đã hết hạn hoặc đã được dùng, vui lòng lấy mã mới."
            ),
        }
    ]
    assert await comment_count(client) == 1


async def test_unknown_captcha_id(client: Client) -> None:
    """A captcha id that was never issued is refused before anything is stored."""
    resp = await client.post("/v1/comments", json=comment("no-such-captcha"))
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["code"] in ("captcha_invalid", "captcha_expired")
    assert await comment_count(client) == 0


async def test_idempotent_retry_stores_once(client: Client) -> None:
    """A retry with the same Idempotency-Key gets the same answer and stores nothing new."""
    data = comment(await new_captcha(client))
    headers = {"Idempotency-Key": "retry-1f0c2a"}
    first = await client.post("/v1/comments", json=data, headers=headers)
    second = await client.post("/v1/comments", json=data, headers=headers)
    assert first.status == second.status == 202
    assert await first.json() == await second.json()
    assert await comment_count(client) == 1


async def test_idempotency_key_reused_for_another_body(client: Client) -> None:
    """The same key with a different comment is refused (422 idempotency_key_reused), nothing stored."""
    headers = {"Idempotency-Key": "key-42"}
    assert (await client.post("/v1/comments", json=comment(await new_captcha(client)), headers=headers)).status == 202
    other = comment(await new_captcha(client), content="Một bình luận hoàn toàn khác.")
    resp = await client.post("/v1/comments", json=other, headers=headers)
    body = await resp.json()
    assert resp.status == 422
    assert body["errors"][0]["code"] == "idempotency_key_reused"
    assert await comment_count(client) == 1


async def test_invalid_idempotency_key(client: Client) -> None:
    """An Idempotency-Key outside 1-128 of A-Z a-z 0-9 . _ : - is a 400."""
    resp = await client.post(
        "/v1/comments", json=comment(await new_captcha(client)), headers={"Idempotency-Key": "x" * 129}
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_idempotency_key"


async def test_repeat_post_is_flagged_not_dropped(client: Client) -> None:
    """The same content from the same client again is stored, flagged with the first comment's id."""
    first = await client.post("/v1/comments", json=comment(await new_captcha(client)))
    first_id = (await first.json())["id"]
    again = comment(await new_captcha(client), title="Tiêu đề khác", content=comment("x")["content"].upper())
    second = await client.post("/v1/comments", json=again)
    assert second.status == 202
    assert (await stored(client, first_id))["signals"]["repeat_of"] is None
    assert (await stored(client, (await second.json())["id"]))["signals"]["repeat_of"] == first_id
    assert await comment_count(client) == 2


async def test_honeypot_flags_but_stores(client: Client) -> None:
    """A filled honeypot gets the same 202 and is flagged for the moderator."""
    resp = await client.post("/v1/comments", data=comment(await new_captcha(client), website="http://x.example"))
    assert resp.status == 202
    assert (await stored(client, (await resp.json())["id"]))["signals"]["honeypot"] is True


async def test_form_token_gives_time_to_submit(client: Client) -> None:
    """A valid form token records seconds to submit; a fresh one is flagged as too fast."""
    token = (await (await client.get("/v1/form-token")).json())["token"]
    resp = await client.post("/v1/comments", json=comment(await new_captcha(client), form_token=token))
    signals = (await stored(client, (await resp.json())["id"]))["signals"]
    assert signals["form_token"] == "valid"
    assert 0 <= signals["seconds_to_submit"] < 60
    assert signals["too_fast"] is True
    forged = await client.post("/v1/comments", json=comment(await new_captcha(client), form_token="1.abc"))
    assert (await stored(client, (await forged.json())["id"]))["signals"]["form_token"] == "invalid"


async def test_banned_client_gets_generic_403(client: Client) -> None:
    """A banned address is refused with a generic message, before the captcha is spent."""
    app = client.app
    assert app is not None
    await bans.add(app[appkeys.REDIS], app[appkeys.KEYS], bans.BanKind.CLIENT, "127.0.0.1", 60, by="admin")
    captcha_id = await new_captcha(client)
    resp = await client.post("/v1/comments", json=comment(captcha_id))
    body = await resp.json()
    assert resp.status == 403 and body["error"]["code"] == "forbidden"
    assert "127.0.0.1" not in await resp.text()
    assert await comment_count(client) == 0


# --------------------------------------------------------------------------- listing
async def _approve(client: Client, comment_id: str) -> None:
    app = client.app
    assert app is not None
    await transitions.decide(
        app[appkeys.REDIS], app[appkeys.KEYS], app[appkeys.SCRIPTS], comment_id, "mod", 1, states.Action.APPROVE
    )


async def test_list_approved_newest_first_public_fields(client: Client) -> None:
    """Only approved comments are listed, newest first, paginated, never phone or address."""
    ids = []
    for i in range(3):
        data = comment(await new_captcha(client), content=f"Bình luận số {i} về bài viết này.")
        ids.append((await (await client.post("/v1/comments", json=data)).json())["id"])
    await _approve(client, ids[0])
    await _approve(client, ids[2])
    resp = await client.get(f"/v1/articles/{ARTICLE}/comments", params={"limit": "1"})
    page = await resp.json()
    assert resp.status == 200
    assert [c["id"] for c in page["items"]] == [ids[2]]
    assert set(page["items"][0]) == {"id", "name", "title", "content", "created_at"}
    assert "+8491" not in await resp.text() and "127.0.0.1" not in await resp.text()
    nxt = await client.get(f"/v1/articles/{ARTICLE}/comments", params={"limit": "1", "cursor": page["next_cursor"]})
    page2 = await nxt.json()
    assert [c["id"] for c in page2["items"]] == [ids[0]] and page2["next_cursor"] is None


async def test_list_etag_and_cache_control(client: Client) -> None:
    """The listing carries ETag and Cache-Control; If-None-Match with the same ETag gives 304."""
    resp = await client.get("/v1/articles/abc/comments")
    assert resp.status == 200
    assert await resp.json() == {"items": [], "next_cursor": None}
    etag = resp.headers["ETag"]
    assert "max-age" in resp.headers["Cache-Control"]
    again = await client.get("/v1/articles/abc/comments", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag


@pytest.mark.parametrize(
    ("path", "field", "code"),
    [
        ("/v1/articles/b%C3%A0i/comments", "article_id", "invalid_characters"),
        (f"/v1/articles/{'a' * 129}/comments", "article_id", "too_long"),
        ("/v1/articles/abc/comments?limit=0", "limit", "out_of_range"),
        ("/v1/articles/abc/comments?limit=x", "limit", "out_of_range"),
    ],
)
async def test_list_rejects_bad_input(client: Client, path: str, field: str, code: str) -> None:
    """A bad article id or limit is a 422 naming the field."""
    resp = await client.get(path)
    assert resp.status == 422
    assert (await resp.json())["errors"][0] == {**(await resp.json())["errors"][0], "field": field, "code": code}


@pytest.mark.parametrize("path", ["/v1/articles/abc/comments", "/demo"])
@pytest.mark.parametrize("cursor", ["nonsense", "nan~01ABC", "1.5"])
async def test_list_bad_cursor(client: Client, path: str, cursor: str) -> None:
    """A cursor that was never issued is a 400 (NaN too: the store refuses it as a score, a 500 before)."""
    resp = await client.get(path, params={"cursor": cursor})
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["code"] == "invalid_cursor"


async def test_the_app_scores_bursts_in_its_scoring_process(make_client: MakeClient) -> None:
    """With the production setting (spam_score_process on), the scoring process loads the model at
    start-up, before any comment; concurrent submissions are scored there, with the same scores;
    closing the app stops it."""
    client = await make_client(
        captcha_test_code=CODE,
        spam_score_process=True,
        captcha_issue_limit=0,
        submit_limit_client=0,
        submit_limit_article=0,
    )
    assert client.app is not None
    scorer = client.app[appkeys.SCORER]
    model = scorer.model
    assert model is not None
    await until(lambda: model.version in scorer.process_versions)  # no submission yet: loaded at start
    assert scorer.batches == 0

    async def submit(i: int) -> str:
        data = comment(await new_captcha(client), content=f"Ý kiến số {i}: đường phố cần được sửa sớm, cảm ơn.")
        resp = await client.post("/v1/comments", json=data)
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["id"])

    pid = scorer.process_pid
    before = scorer.process_batches
    ids = await asyncio.gather(*(submit(i) for i in range(48)))
    assert scorer.process_batches > before
    metrics = await (await client.get("/metrics")).text()
    assert 'duyet_spam_batches_total{where="process"}' in metrics
    assert "duyet_spam_process_losses_total 0.0" in metrics
    for comment_id in ids:
        record = await stored(client, comment_id)
        assert record["model_version"] == model.version
        assert 0.0 <= float(record["spam_probability"]) <= 1.0
    await client.close()
    assert pid not in {child.pid for child in multiprocessing.active_children()}


@pytest.mark.parametrize("kept", [(), (RATELIMIT,)], ids=["all-lost", "some-lost"])
async def test_a_store_that_lost_its_scripts_counts_the_submission_once(
    client: Client, redis: Redis, kept: tuple[str, ...]
) -> None:
    """After SCRIPT FLUSH (as after a store restart) the checks' batch loads the lost scripts and
    sends only those again: 202, and the rate limit counted the submission once. With the
    rate-limit script kept (captcha issuing loads it) and the captcha check lost, sending the whole
    batch again counted it twice, and a reader's first comment after a restart could meet 429."""
    data = comment(await new_captcha(client))
    await redis.script_flush()
    for script in kept:
        await redis.script_load(script)
    resp = await client.post("/v1/comments", json=data)
    assert resp.status == 202, await resp.text()
    app = client.app
    assert app is not None
    counters = [key async for key in redis.scan_iter(match=f"{app[appkeys.KEYS].prefix}:rl:{{submit-client:*")]
    assert [await redis.get(key) for key in counters] == ["1"]
