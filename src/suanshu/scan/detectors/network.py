"""Network identifiers: IPv4 and IPv6 addresses."""

from __future__ import annotations

import re
import socket
from typing import ClassVar

from suanshu.scan.detectors.base import Detector

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


class IPv4Detector(Detector):
    type = "IP_ADDRESS"
    # A letter may touch the address (登录IP192.168.0.1): no letter can be part of it.
    pattern = re.compile(rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9A-Za-z]|\.[0-9])")
    hint = r"\p{Nd}[.．]\p{Nd}{1,3}[.．]\p{Nd}{1,3}[.．]\p{Nd}"
    value = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
    before = r"(?:^|[^0-9.])"
    needs: ClassVar[dict[str, int]] = {"digits": 4, ".": 3}


class IPv6Detector(Detector):
    """Candidates are runs of hex digits and colons with at least two colons; ``ipaddress``
    decides (so 12:30:45 and MAC-like strings are refused)."""

    type = "IP_ADDRESS"
    pattern = re.compile(r"(?<![0-9A-Fa-f:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?:%[0-9A-Za-z]+)?"
                         r"(?![0-9A-Za-z:])")
    hint = r"[0-9A-Fa-f]*:[0-9A-Fa-f]*:"
    # RE2 has no lookahead: the two colons are spelled out, and the 39-character limit is checked
    # by validation (no longer IPv6 text exists)
    value = r"[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:]*(?:%[0-9A-Za-z]+)?"
    before = r"(?:^|[^0-9A-Fa-f:.])"
    after = r"(?:$|[^0-9A-Za-z:])"
    # Valid IPv6 text has "::" or all 7 colons (RFC 4291 §2.2): 12:30:45 has neither.
    needs: ClassVar[dict[str, int]] = {"ipv6": 7}

    def validate(self, candidate: str) -> bool:
        address = candidate.partition("%")[0]
        if not 3 <= len(address) <= 39 or address.count(":") < 2 or not any(c.isalnum() for c in address):
            return False
        # inet_pton is the C parser (ipaddress's is Python, 30x slower); the tests check they agree
        try:
            socket.inet_pton(socket.AF_INET6, address)
        except OSError:
            return False
        return True
