"""What an article id is: the portal's own key for the page a comment belongs to.

Shared by comments (validation) and captchas (a captcha may be bound to one article).
"""

from __future__ import annotations

import re

ARTICLE_ID_PATTERN = r"^[A-Za-z0-9._:/-]+$"
ARTICLE_ID_MAX = 128


def is_article_id(value: str) -> bool:
    return 0 < len(value) <= ARTICLE_ID_MAX and re.fullmatch(ARTICLE_ID_PATTERN, value) is not None
