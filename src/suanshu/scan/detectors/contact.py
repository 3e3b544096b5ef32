"""Contact details: mobile and landline numbers, e-mail, QQ and WeChat ids, postal codes."""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suanshu.scan.detectors.base import END, NOT_AFTER, SEP, D, Detector


class EmailDetector(Detector):
    """An e-mail address (the common subset of RFC 5322: dot-atom local part, DNS domain)."""

    type = "EMAIL"
    pattern = re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}" + NOT_AFTER)
    hint = "[@\uff20\ufe6b]"  # @, full-width @, small @
    value = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
    before = r"(?:^|[^A-Za-z0-9._%+-])"
    needs: ClassVar[dict[str, int]] = {"@": 1, ".": 1}
    python_rounds = "@"

    def validate(self, candidate: str) -> bool:
        local, _, domain = candidate.rpartition("@")
        if local.startswith(".") or local.endswith(".") or ".." in local:
            return False
        labels = domain.split(".")
        return all(lb and not lb.startswith("-") and not lb.endswith("-") for lb in labels)

    # ``validate`` as one RE2 test for a whole batch: no dot at either end of the local part nor
    # two in a row; domain labels not empty and not starting or ending with "-".
    _VALID = (r"^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@"
              r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        return pc.match_substring_regex(pa.array(candidates, pa.string()), self._VALID).to_numpy(
            zero_copy_only=False).astype(bool)


class MobileDetector(Detector):
    """Mainland mobile numbers (MIIT number plan segments, REFERENCE §2).

    Optional +86 / 0086 prefix; the 3-4-4 groups may be separated by one consistent space or
    dash. The span includes the prefix. ``+`` is excluded before the number so that
    ``+13912345678`` (another country's code) is not taken for a mainland mobile.
    """

    type = "CN_MOBILE"
    pattern = re.compile(
        r"(?<![0-9A-Za-z+])(?<![0-9]\.)(?:(?:\+|00)86[ -]?)?"
        r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9])"
        r"([ -]?)[0-9]{4}\1[0-9]{4}" + NOT_AFTER)
    hint = rf"{D}{{3}}{SEP}?{D}{{4}}{SEP}?{D}{{4}}{END}"
    value = (r"(?:(?:\+|00)86[ -]?)?1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9])"
             r"(?: [0-9]{4} [0-9]{4}|-[0-9]{4}-[0-9]{4}|[0-9]{8})")
    before = r"(?:^|[^0-9A-Za-z+.]|(?:^|[^0-9])\.)"
    needs: ClassVar[dict[str, int]] = {"digits": 11}


class LandlineDetector(Detector):
    """Fixed-line numbers: area code 010 / 02X / 0XXX (or +86 without the trunk 0), optionally
    in brackets, then a 7-8 digit local number (8 after 010/02X; a space or dash may split off
    its last 4 digits), then an optional extension
    (转 123, -123, ext. 123, x123, #123)."""

    type = "CN_LANDLINE"
    pattern = re.compile(
        r"(?<![0-9A-Za-z+])(?<![0-9]\.)"
        r"(?:(?:\+|00)86[ -]?(?:\(0\))?(?:(?P<i3>10|2[0-9])|[3-9][0-9]{2})"
        r"|\((?:(?P<b3>010|02[0-9])|0[3-9][0-9]{2})\)"
        r"|(?:(?P<p3>010|02[0-9])|0[3-9][0-9]{2}))"
        r"[ -]?(?:(?(i3)[2-9][0-9]{3}|(?(b3)[2-9][0-9]{3}|(?(p3)[2-9][0-9]{3}|[2-9][0-9]{2,3}))))[ -]?[0-9]{4}"
        r"(?:(?:转|分机|-| ?ext\.? ?| ?x|#)[0-9]{1,5})?" + NOT_AFTER)

    def validate(self, candidate: str) -> bool:
        # Written without any separator, a landline is 11 digits (010/02X + 8, 0XXX + 7); a
        # bare 12-digit run is far more often an order or serial number than 0XXX + 8 digits.
        return not candidate.isdigit() or len(candidate) == 11

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        arr = pa.array(candidates, pa.string())
        digits_only = pc.match_substring_regex(arr, "^[0-9]+$").to_numpy(zero_copy_only=False)
        return ~digits_only | (pc.utf8_length(arr).to_numpy(zero_copy_only=False) == 11)
    hint = rf"[0０(（+]{D}{{1,3}}[\)）]?{SEP}?(?:[(（]?{D}{{1,3}}[\)）]?{SEP}?)?{D}{{3,4}}{SEP}?{D}{{4}}"
    # RE2 has no conditional groups: one alternative per area-code form (010/02X take 8 digits)
    value = (r"(?:(?:\+|00)86[ -]?(?:\(0\))?(?:10|2[0-9])[ -]?[2-9][0-9]{3}"
             r"|(?:\+|00)86[ -]?(?:\(0\))?[3-9][0-9]{2}[ -]?[2-9][0-9]{2,3}"
             r"|\((?:010|02[0-9])\)[ -]?[2-9][0-9]{3}"
             r"|\(0[3-9][0-9]{2}\)[ -]?[2-9][0-9]{2,3}"
             r"|(?:010|02[0-9])[ -]?[2-9][0-9]{3}"
             r"|0[3-9][0-9]{2}[ -]?[2-9][0-9]{2,3})"
             r"[ -]?[0-9]{4}(?:(?:转|分机|-| ?ext\.? ?| ?x|#)[0-9]{1,5})?")
    before = r"(?:^|[^0-9A-Za-z+.]|(?:^|[^0-9])\.)"
    needs: ClassVar[dict[str, int]] = {"digits": 11}  # 010/02X + 8 digits or 0XXX + 7; +86 forms have more


class QQDetector(Detector):
    """QQ numbers (5-11 digits, no leading 0) — only after a QQ context word: a bare number is not one."""

    type = "QQ_NUMBER"
    gate = "context"
    pattern = re.compile(r"(?:QQ|qq|Qq|扣扣)\s*(?:号码|号|账号|帳號)?\s*[:：]?\s*(?P<v>[1-9][0-9]{4,10})(?![0-9A-Za-z])")
    hint = r"(?i)qq|扣扣"
    context = r"(?:QQ|qq|Qq|扣扣)\s*(?:号码|号|账号|帳號)?\s*[:：]?\s*"
    before, value, after, whole = "", r"[1-9][0-9]{4,10}", r"(?:$|[^0-9A-Za-z])", False
    needs: ClassVar[dict[str, int]] = {"digits": 5, "words": 2}


class WeChatDetector(Detector):
    """WeChat ids (6-20 characters, a letter first; wxid_…) after a WeChat context word."""

    type = "WECHAT_ID"
    gate = "context"
    pattern = re.compile(
        r"(?:微信|微信号|微信號|[Ww]e[Cc]hat|VX|vx|WX|wx)\s*(?:号|號|ID|id)?\s*[:：]?\s*"
        r"(?P<v>[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])")
    hint = r"微信|(?i)wechat|vx|wx"
    context = r"(?:微信|微信号|微信號|[Ww]e[Cc]hat|VX|vx|WX|wx)\s*(?:号|號|ID|id)?\s*[:：]?\s*"
    before, value, after, whole = "", r"[A-Za-z][-_A-Za-z0-9]{5,19}", r"(?:$|[^-_A-Za-z0-9])", False
    needs: ClassVar[dict[str, int]] = {"words": 3}  # the context word and the id's first letter

    def validate(self, candidate: str) -> bool:
        return not candidate.lower().startswith(("http", "www"))


class PostalCodeDetector(Detector):
    """Six-digit postal codes (GB/T 12906 ranges 01-86) only after a context word; alone, six
    digits are anything at all."""

    type = "POSTAL_CODE"
    gate = "context"
    pattern = re.compile(r"(?:邮编|邮政编码|郵編|郵遞區號|[Pp]ost ?[Cc]ode|ZIP|[Zz]ip ?[Cc]ode)\s*[:：]?\s*"
                         r"(?P<v>(?:0[1-9]|[1-7][0-9]|8[0-6])[0-9]{4})(?![0-9])")
    hint = r"邮编|邮政|郵|(?i)post|zip"
    context = r"(?:邮编|邮政编码|郵編|郵遞區號|[Pp]ost ?[Cc]ode|ZIP|[Zz]ip ?[Cc]ode)\s*[:：]?\s*"
    before, value, after, whole = "", r"(?:0[1-9]|[1-7][0-9]|8[0-6])[0-9]{4}", r"(?:$|[^0-9])", False
    needs: ClassVar[dict[str, int]] = {"digits": 6, "words": 2}
