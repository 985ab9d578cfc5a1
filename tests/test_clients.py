"""Client address behind proxies, and language choice."""

from __future__ import annotations

import ipaddress

from service.http.clients import client_address, language
from service.store import ratelimit

TRUSTED = [ipaddress.ip_network("10.0.0.0/8")]


def test_forwarded_for_ignored_from_untrusted_peer() -> None:
    """A client cannot claim another address by sending its own X-Forwarded-For."""
    assert client_address("203.0.113.9", "1.2.3.4", TRUSTED) == "203.0.113.9"


def test_forwarded_for_used_from_trusted_proxy() -> None:
    """Behind a trusted proxy, the right-most untrusted hop is the client."""
    assert client_address("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.3", TRUSTED) == "198.51.100.7"


def test_garbage_forwarded_for_keeps_the_peer() -> None:
    """A malformed header never becomes the client address."""
    assert client_address("10.0.0.2", "not-an-ip", TRUSTED) == "10.0.0.2"


def test_language_defaults_to_vietnamese() -> None:
    """Vietnamese unless the client prefers English."""
    assert language(None) == "vi"
    assert language("fr-FR,fr;q=0.9") == "vi"
    assert language("en-US,en;q=0.9,vi;q=0.5") == "en"
    assert language("vi-VN,vi;q=0.9,en;q=0.8") == "vi"


def test_rate_limits_count_an_ipv6_client_by_its_64() -> None:
    """Addresses of one IPv6 /64 are one rate-limited subject (issue 20, finding 12); IPv4 (also
    written IPv4-mapped) stays exact, and a subject that is not an address is kept as given."""
    assert (
        ratelimit.subject_of("2001:db8:1:2::5") == ratelimit.subject_of("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    )
    assert ratelimit.subject_of("2001:db8:1:3::5") == "2001:db8:1:3::/64"
    assert ratelimit.subject_of("198.51.100.7") == ratelimit.subject_of("::ffff:198.51.100.7") == "198.51.100.7"
    assert ratelimit.subject_of("lan") == "lan"
