"""The moderator UI's templates, static files and words (Vietnamese first, English second).

Templates are Jinja2 with autoescaping on for every file: comment text is never marked safe.
The browser script gets its words from a JSON data block (not executable, so the strict CSP
holds) built from `TEXT`.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

UI_ROOT = Path(__file__).resolve().parent
STATIC_DIR = UI_ROOT / "static"
LANGS = ("vi", "en")

# key -> (vi, en). Keys used by the browser script are listed in SCRIPT_KEYS.
TEXT: dict[str, tuple[str, str]] = {
    "title": ("Duyệt bình luận", "Comment review"),
    "login_title": ("Đăng nhập kiểm duyệt", "Moderator log-in"),
    "login_name": ("Tên đăng nhập", "User name"),
    "login_name_hint": ("Không cần khi đăng nhập bằng mã truy cập.", "Not needed with an access token."),
    "login_secret": ("Mật khẩu hoặc mã truy cập", "Password or access token"),
    "login_submit": ("Đăng nhập", "Log in"),
    "login_failed": ("Tên đăng nhập hoặc mật khẩu không đúng.", "Wrong user name or password."),
    "login_limited": (
        "Quá nhiều lần đăng nhập. Vui lòng thử lại sau {s} giây.",
        "Too many log-in attempts. Try again in {s} seconds.",
    ),
    "login_expired": ("Biểu mẫu đã hết hạn, vui lòng thử lại.", "The form expired, please try again."),
    "logout": ("Đăng xuất", "Log out"),
    "logged_in_as": ("Đang đăng nhập:", "Logged in as"),
    "language": ("Ngôn ngữ", "Language"),
    "switch_lang": ("English", "Tiếng Việt"),
    "stat_waiting": ("Đang chờ", "Waiting"),
    "stat_oldest": ("Lâu nhất", "Oldest"),
    "stat_decided": ("Quyết định 24 giờ qua", "Decided, last 24 h"),
    "queue_heading": ("Hàng đợi của bạn", "Your queue"),
    "queue_empty": ("Không còn bình luận nào chờ duyệt.", "Nothing is waiting for review."),
    "loading": ("Đang tải…", "Loading…"),
    "approve": ("Duyệt", "Approve"),
    "reject": ("Từ chối", "Reject"),
    "spam": ("Rác (spam)", "Spam"),
    "release": ("Trả lại", "Release"),
    "select": ("Chọn", "Select"),
    "details": ("Chi tiết", "Details"),
    "undo": ("Hoàn tác", "Undo"),
    "help": ("Phím tắt", "Shortcuts"),
    "close": ("Đóng", "Close"),
    "cancel": ("Hủy", "Cancel"),
    "confirm_reject": ("Từ chối", "Reject"),
    "reason_heading": ("Lý do từ chối", "Reason for rejection"),
    "note": ("Ghi chú (không bắt buộc)", "Note (optional)"),
    "bulk_selected": ("Đã chọn {n}", "{n} selected"),
    "bulk_approve": ("Duyệt các mục đã chọn", "Approve selected"),
    "bulk_reject": ("Từ chối các mục đã chọn", "Reject selected"),
    "bulk_clear": ("Bỏ chọn", "Clear selection"),
    "field_name": ("Họ tên", "Name"),
    "field_phone": ("Số điện thoại", "Phone"),
    "field_article": ("Bài viết", "Article"),
    "field_time": ("Thời gian", "Time"),
    "field_state": ("Trạng thái", "State"),
    "field_score": ("Xác suất spam", "Spam probability"),
    "field_reasons": ("Lý do chấm điểm", "Why this score"),
    "no_phone": ("không có", "none"),
    "verdict_ham": ("Bình thường", "Looks fine"),
    "verdict_suspect": ("Đáng ngờ", "Suspect"),
    "verdict_spam": ("Rác", "Spam"),
    "event_submitted": ("Gửi lên", "Submitted"),
    "event_claimed": ("Nhận xử lý", "Claimed"),
    "event_released": ("Trả lại", "Released"),
    "event_lease_expired": ("Hết hạn giữ", "Lease expired"),
    "event_decided": ("Quyết định", "Decided"),
    "event_reopened": ("Mở lại", "Reopened"),
    "state_pending": ("Chờ duyệt", "Pending"),
    "state_claimed": ("Đang xử lý", "Claimed"),
    "state_approved": ("Đã duyệt", "Approved"),
    "state_rejected": ("Đã từ chối", "Rejected"),
    "done_approve": ("Đã duyệt 1 bình luận.", "Approved 1 comment."),
    "done_reject": ("Đã từ chối 1 bình luận.", "Rejected 1 comment."),
    "done_bulk": ("Đã xử lý {n} bình luận.", "Decided {n} comments."),
    "done_release": ("Đã trả lại hàng đợi.", "Released to the queue."),
    "undo_hint": ("Nhấn U để hoàn tác.", "Press U to undo."),
    "undone": ("Đã hoàn tác.", "Undone."),
    "undo_expired": ("Đã quá thời gian hoàn tác.", "Too late to undo."),
    "conflict": (
        "Bình luận này đã được người khác xử lý hoặc thay đổi.",
        "Someone else handled or changed this comment.",
    ),
    "error": ("Có lỗi xảy ra, vui lòng thử lại.", "Something went wrong, please try again."),
    "session_ended": ("Phiên đăng nhập đã kết thúc.", "Your session has ended."),
    "live_new": ("{n} bình luận mới đang chờ.", "{n} new comments waiting."),
    "seconds": ("{n} giây", "{n} s"),
    "minutes": ("{n} phút", "{n} min"),
    "hours": ("{n} giờ", "{n} h"),
    "days": ("{n} ngày", "{n} d"),
    "none": ("—", "—"),
    "back": ("← Quay lại hàng đợi", "← Back to the queue"),
    "detail_title": ("Chi tiết bình luận", "Comment details"),
    "history": ("Lịch sử", "History"),
    "history_event": ("Sự kiện", "Event"),
    "history_by": ("Người thực hiện", "By"),
    "history_at": ("Lúc", "At"),
    "history_detail": ("Chi tiết", "Details"),
    "same_client": ("Bình luận khác từ cùng người gửi", "Other comments from the same sender"),
    "same_client_none": ("Không có bình luận nào khác.", "No other comments."),
    "not_found": ("Không tìm thấy bình luận.", "No such comment."),
    "content": ("Nội dung", "Content"),
    "help_title": ("Phím tắt", "Keyboard shortcuts"),
    "key_next": ("Bình luận tiếp theo", "Next comment"),
    "key_prev": ("Bình luận trước", "Previous comment"),
    "key_approve": ("Duyệt (hoặc các mục đã chọn)", "Approve (or the selection)"),
    "key_reject": ("Từ chối, chọn lý do (hoặc các mục đã chọn)", "Reject with a reason (or the selection)"),
    "key_spam": ("Từ chối vì rác (hoặc các mục đã chọn)", "Reject as spam (or the selection)"),
    "key_release": ("Trả lại hàng đợi", "Release to the queue"),
    "key_select": ("Chọn / bỏ chọn", "Select / unselect"),
    "key_undo": ("Hoàn tác quyết định cuối (trong {s} giây)", "Undo the last decision (within {s} s)"),
    "key_open": ("Xem chi tiết", "Open details"),
    "key_help": ("Hiện / ẩn phím tắt", "Show / hide shortcuts"),
    "key_reason_digit": ("Trong hộp lý do: chọn lý do theo số", "In the reason box: pick a reason by number"),
    "key_escape": ("Đóng hộp thoại", "Close a dialog"),
    "skip_link": ("Bỏ qua tới hàng đợi", "Skip to the queue"),
}

# Why a comment was rejected (review.states.RejectReason values) -> (vi, en).
REASONS: dict[str, tuple[str, str]] = {
    "spam": ("Rác, spam", "Spam"),
    "advertising": ("Quảng cáo", "Advertising"),
    "abusive": ("Thô tục, xúc phạm", "Abusive"),
    "hate_speech": ("Kích động thù hằn", "Hate speech"),
    "harassment": ("Quấy rối", "Harassment"),
    "off_topic": ("Lạc đề", "Off topic"),
    "misinformation": ("Thông tin sai lệch", "Misinformation"),
    "illegal": ("Vi phạm pháp luật", "Illegal"),
    "personal_info": ("Lộ thông tin cá nhân", "Personal information"),
    "duplicate": ("Trùng lặp", "Duplicate"),
    "other": ("Lý do khác", "Other"),
}

SCRIPT_KEYS = (
    "approve", "reject", "spam", "release", "select", "details", "undo", "no_phone", "verdict_ham",
    "verdict_suspect", "verdict_spam", "done_approve", "done_reject", "done_bulk", "done_release", "undo_hint",
    "undone", "undo_expired", "conflict", "error", "session_ended", "live_new", "seconds", "minutes", "hours",
    "days", "none", "bulk_selected", "queue_empty", "field_score",
)  # fmt: skip


def words(lang: str) -> dict[str, str]:
    """Every UI string in one language."""
    i = 1 if lang == "en" else 0
    return {key: pair[i] for key, pair in TEXT.items()}


def reasons(lang: str) -> list[tuple[str, str]]:
    i = 1 if lang == "en" else 0
    return [(code, pair[i]) for code, pair in REASONS.items()]


def script_words(lang: str) -> dict[str, str]:
    all_words = words(lang)
    return {key: all_words[key] for key in SCRIPT_KEYS}


def setup_templates(app: web.Application) -> None:
    """aiohttp-jinja2 over the package's templates, autoescaping everything."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("service.http", "ui/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
