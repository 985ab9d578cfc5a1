"""Who is asking: the client address (trusting X-Forwarded-For only from trusted proxies) and language."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str:
    """The first address, from the right, that is not one of our trusted proxies.

    Walking from the right means a client cannot spoof its address by sending its own
    X-Forwarded-For: only hops added by proxies we trust are skipped.
    """
    addr = peer or "unknown"
    if not forwarded_for or not _is_trusted(addr, trusted):
        return addr
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return addr  # garbage in the header: keep the last address we know is real
        addr = hop
        if not _is_trusted(hop, trusted):
            return hop
    return addr


def _is_trusted(addr: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def language(accept_language: str | None) -> str:
    """'vi' (the default, our readers' language) or 'en' when the client prefers English."""
    if not accept_language:
        return "vi"
    best, best_q = "vi", -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in ("vi", "en") and q > best_q:
            best, best_q = lang, q
    return best
