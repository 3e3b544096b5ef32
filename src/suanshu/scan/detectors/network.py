"""Network identifiers: IPv4 and IPv6 addresses."""

from __future__ import annotations

import ipaddress
import re

from suanshu.scan.detectors.base import Detector

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


class IPv4Detector(Detector):
    type = "IP_ADDRESS"
    # A letter may touch the address (登录IP192.168.0.1): no letter can be part of it.
    pattern = re.compile(rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9A-Za-z]|\.[0-9])")
    hint = r"\p{Nd}[.．]\p{Nd}{1,3}[.．]\p{Nd}{1,3}[.．]\p{Nd}"


class IPv6Detector(Detector):
    """Candidates are runs of hex digits and colons with at least two colons; ``ipaddress``
    decides (so 12:30:45 and MAC-like strings are refused)."""

    type = "IP_ADDRESS"
    pattern = re.compile(r"(?<![0-9A-Fa-f:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?:%[0-9A-Za-z]+)?"
                         r"(?![0-9A-Za-z:])")
    hint = r"[0-9A-Fa-f]*:[0-9A-Fa-f]*:"

    def validate(self, candidate: str) -> bool:
        if candidate.count(":") < 2 or not any(c.isalnum() for c in candidate):
            return False
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            return False
        return True
