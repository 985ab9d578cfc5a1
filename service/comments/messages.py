"""What readers are told, in Vietnamese (the default) and English: one catalogue, stable codes.

Codes are the contract (clients switch on them); messages are for people and may be reworded.
A message may name the field (`{label}`) and the rule's numbers (`{min}`, `{max}`).
"""

from __future__ import annotations

from typing import Any

Lang = str  # "vi" | "en"

# Field labels as the portal's form shows them.
LABELS: dict[str, tuple[str, str]] = {
    "article_id": ("Mã bài viết", "Article id"),
    "name": ("Họ tên", "Name"),
    "phone": ("Số điện thoại", "Phone number"),
    "title": ("Tiêu đề", "Title"),
    "content": ("Nội dung", "Content"),
    "captcha_id": ("Mã xác nhận", "Captcha"),
    "captcha_answer": ("Mã xác nhận", "Captcha code"),
    "website": ("Website", "Website"),
    "form_token": ("Mã biểu mẫu", "Form token"),
    "Idempotency-Key": ("Idempotency-Key", "Idempotency-Key"),
    "limit": ("limit", "limit"),
    "cursor": ("cursor", "cursor"),
}

# code -> (vi, en)
MESSAGES: dict[str, tuple[str, str]] = {
    # --- field errors (422)
    "required": ("{label} là bắt buộc.", "{label} is required."),
    "too_short": ("{label} phải có ít nhất {min} ký tự.", "{label} must be at least {min} characters long."),
    "too_long": ("{label} không được dài quá {max} ký tự.", "{label} must be at most {max} characters long."),
    "invalid_characters": ("{label} chứa ký tự không hợp lệ.", "{label} contains characters that are not allowed."),
    "invalid_type": ("{label} phải là một chuỗi ký tự.", "{label} must be a string."),
    "contains_url": ("{label} không được chứa đường link.", "{label} must not contain a link."),
    "invalid_phone": (
        "Số điện thoại không hợp lệ (ví dụ: 0912 345 678 hoặc +84 912 345 678).",
        "The phone number is not valid (e.g. 0912 345 678 or +84 912 345 678).",
    ),
    "out_of_range": ("{label} phải nằm trong khoảng {min}-{max}.", "{label} must be between {min} and {max}."),
    "invalid_cursor": ("{label} không hợp lệ.", "{label} is not valid."),
    "captcha_invalid": (
        "Mã xác nhận không đúng, vui lòng nhập lại.",
        "The captcha code is not correct, please try again.",
    ),
    "captcha_expired": (
        "Mã xác nhận đã hết hạn hoặc đã được dùng, vui lòng lấy mã mới.",
        "The captcha code has expired or was already used, please get a new one.",
    ),
    "idempotency_key_reused": (
        "Idempotency-Key này đã được dùng cho một bình luận khác.",
        "This Idempotency-Key was already used for a different comment.",
    ),
    "invalid_idempotency_key": (
        "Idempotency-Key phải gồm 1-128 ký tự A-Z a-z 0-9 . _ : -",
        "Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -",
    ),
    # --- request-level errors
    "validation_failed": ("Một số trường chưa hợp lệ.", "Some fields are not valid."),
    "unsupported_media_type": (
        "Định dạng không được hỗ trợ: hãy gửi application/json hoặc application/x-www-form-urlencoded (UTF-8).",
        "Unsupported content type: send application/json or application/x-www-form-urlencoded (UTF-8).",
    ),
    "malformed_json": ("JSON không hợp lệ: {detail}.", "Malformed JSON: {detail}."),
    "json_not_object": (
        "Nội dung JSON phải là một đối tượng {{...}}.",
        "The JSON body must be an object {{...}}.",
    ),
    "invalid_utf8": ("Dữ liệu gửi lên không phải UTF-8 hợp lệ: {detail}.", "The body is not valid UTF-8: {detail}."),
    "payload_too_large": (
        "Dữ liệu gửi lên quá lớn (tối đa {max} byte).",
        "The request body is too large (at most {max} bytes).",
    ),
    "rate_limited": (
        "Bạn gửi quá nhiều bình luận, vui lòng thử lại sau {retry_after} giây.",
        "Too many comments, please try again in {retry_after} seconds.",
    ),
    "article_rate_limited": (
        "Bài viết này đang nhận quá nhiều bình luận, vui lòng thử lại sau {retry_after} giây.",
        "This article is receiving too many comments, please try again in {retry_after} seconds.",
    ),
    "model_not_ready": (
        "Hệ thống đang khởi động, vui lòng thử lại sau ít phút.",
        "The service is starting up, please try again in a moment.",
    ),
    "captcha_unavailable": (
        "Không kiểm tra được mã xác nhận lúc này, vui lòng thử lại.",
        "The captcha cannot be checked right now, please try again.",
    ),
    "forbidden": ("Không thể gửi bình luận.", "The comment cannot be posted."),
}

# Field-specific wording where the generic one would be vague.
FIELD_MESSAGES: dict[tuple[str, str], tuple[str, str]] = {
    ("name", "invalid_characters"): (
        "Họ tên chỉ được gồm chữ cái, khoảng trắng và các dấu . ' -",
        "The name may contain only letters, spaces and . ' -",
    ),
    ("article_id", "invalid_characters"): (
        "Mã bài viết chỉ được gồm A-Z a-z 0-9 và . _ : / -",
        "The article id may contain only A-Z a-z 0-9 and . _ : / -",
    ),
    ("phone", "invalid_characters"): MESSAGES["invalid_phone"],
}


def message(code: str, lang: Lang, field: str | None = None, **params: Any) -> str:
    """The message for `code` in `lang` ('vi' unless 'en'), filled with the field label and params."""
    i = 1 if lang == "en" else 0
    texts = FIELD_MESSAGES.get((field or "", code)) or MESSAGES.get(code)
    if texts is None:
        texts = MESSAGES["validation_failed"] if field else ("Yêu cầu không hợp lệ.", "The request is not valid.")
    label = LABELS.get(field or "", (field or "", field or ""))[i]
    return texts[i].format(label=label, **params)


def field_error(field: str, code: str, lang: Lang, **params: Any) -> dict[str, str]:
    """One entry of a 422 `errors` list."""
    return {"field": field, "code": str(code), "message": message(code, lang, field, **params)}
