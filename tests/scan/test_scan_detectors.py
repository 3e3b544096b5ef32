"""Detectors: positives with exact offsets in the original text, and hard negatives."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanshu.scan import validators as v
from suanshu.scan.detectors import DETECTORS, ID_DETECTORS, Match, detect, normalize

RID = "11010519491231002X"
CARD = "622202123456789012" + v.luhn_check_digit("622202123456789012")
CARD16 = "621700000000000" + v.luhn_check_digit("621700000000000")


def found(text: str) -> list[tuple[str, str]]:
    """Identifier findings (names and addresses have their own tests)."""
    return [(m.type, text[m.start:m.end]) for m in detect(text, ID_DETECTORS)]


def only(text: str, kind: str, piece: str) -> None:
    """``text`` holds exactly one finding: ``piece`` of type ``kind``, at its real offsets."""
    start = text.index(piece)
    assert detect(text, ID_DETECTORS) == [Match(start, start + len(piece), kind)]


# --- resident IDs ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    RID, f"张三身份证号{RID}住北京", f"证件号码：{RID}。", f"({RID.lower()})", "110105491231002"])
def test_resident_id_positives(text):
    piece = RID.lower() if RID.lower() in text else (RID if RID in text else "110105491231002")
    only(text, "CN_RESIDENT_ID", piece)


def test_full_width_id_reports_original_offsets():
    wide = "".join(chr(ord(c) + 0xFEE0) for c in RID)  # １１０１…Ｘ
    text = f"身份证：{wide}，请核对"
    only(text, "CN_RESIDENT_ID", wide)


@pytest.mark.parametrize("text", [
    "110105194912310021",  # check digit fails
    "110105194902300024",  # 1949-02-30
    "000000199001011230",  # no such area
    f"A{RID}",  # part of a longer code
    f"{RID}9",
    f"ID{RID}",
])
def test_resident_id_negatives(text):
    assert [t for t, _ in found(text) if t == "CN_RESIDENT_ID"] == []


# --- mobiles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "piece"), [
    ("13912345678", "13912345678"),
    ("电话13912345678转分机", "13912345678"),
    ("联系人：王五，手机：+8613912345678。", "+8613912345678"),
    ("+86 139 1234 5678", "+86 139 1234 5678"),
    ("0086-139-1234-5678", "0086-139-1234-5678"),
    ("tel:139-1234-5678;", "139-1234-5678"),
    ("call 199 1234 5678 now", "199 1234 5678"),
    ("电话：１３９１２３４５６７８，谢谢", "１３９１２３４５６７８"),
])
def test_mobile_positives(text, piece):
    only(text, "CN_MOBILE", piece)


@pytest.mark.parametrize("text", [
    "139123456789",  # 12 digits
    "1391234567",  # 10 digits
    "12012345678",  # 120 is not a mobile segment
    "23912345678",
    "139-1234 5678",  # mixed separators
    "abc13912345678",
    "13912345678abc",
    "+13912345678",  # another country's +1
    "金额13912345678.00元",  # an amount
    "订单2024011513912345678",  # inside a longer number
])
def test_mobile_negatives(text):
    assert found(text) == []


def test_only_real_digits_become_digits():
    assert found("①３９１２３４５６７８９") == []  # ① is not how a phone number is written
    assert found("𝟏𝟑𝟗𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖") == [("CN_MOBILE", "𝟏𝟑𝟗𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖")]  # math digits are digits (Nd)


def test_folding_keeps_every_offset():
    text = "㈠手机１３９１２３４５６７８"  # NFKC would expand ㈠ to "(一)"; folding never changes length
    norm, origin = normalize(text)
    assert len(norm) == len(text) and origin is None and norm.endswith("13912345678")
    only(text, "CN_MOBILE", "１３９１２３４５６７８")


# --- e-mail ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "piece"), [
    ("zhang.san@example.com", "zhang.san@example.com"),
    ("联系邮箱zhang_san+x@mail.example.com.cn谢谢", "zhang_san+x@mail.example.com.cn"),
    ("mail: li@163.com.", "li@163.com"),
    ("wang＠example.org", "wang＠example.org"),  # full-width @
    ("13912345678@qq.com", "13912345678@qq.com"),  # one e-mail, not a phone with a tail
])
def test_email_positives(text, piece):
    only(text, "EMAIL", piece)


@pytest.mark.parametrize("text", [
    "user@localhost", "@example.com", "a..b@example.com", ".a@example.com", "a@-x.com",
    "price 5@3.5", "邮箱@公司",
])
def test_email_negatives(text):
    assert found(text) == []


# --- bank cards --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "piece"), [
    (CARD, CARD),
    (f"银行卡号{CARD}，开户行北京", CARD),
    (CARD16, CARD16),
    (" ".join(CARD16[i:i + 4] for i in range(0, 16, 4)),
     " ".join(CARD16[i:i + 4] for i in range(0, 16, 4))),
    ("-".join([CARD[0:4], CARD[4:8], CARD[8:12], CARD[12:16], CARD[16:]]),
     "-".join([CARD[0:4], CARD[4:8], CARD[8:12], CARD[12:16], CARD[16:]])),
])
def test_bank_card_positives(text, piece):
    only(text, "BANK_CARD", piece)


def failing_luhn(prefix: str, length: int) -> str:
    rng = random.Random(length)
    while True:
        n = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix)))
        if not v.is_luhn(n) and not v.is_resident_id(n):
            return n


@pytest.mark.parametrize("text", [
    failing_luhn("6222", 16),  # a 16-digit number failing Luhn
    f"订单号：{failing_luhn('2024', 18)}",  # order number
    f"流水号{failing_luhn('1', 19)}",
    CARD + "0",  # 20 digits
    "金额：1234567890123456.78",
    "¥12,345,678.90",
])
def test_bank_card_negatives(text):
    assert found(text) == []


def test_a_luhn_passing_resident_id_is_an_id_not_a_card():
    born = dt.date(1990, 3, 7)
    for seq in range(1000):
        first17 = f"110105{born:%Y%m%d}{seq:03d}"
        rid = first17 + v.resident_id_check_char(first17)
        if v.is_luhn(rid):
            break
    assert found(f"卡号{rid}") == [("CN_RESIDENT_ID", rid)]


def test_several_findings_in_one_cell_are_sorted():
    text = f"王五 {RID} 13912345678 w5@example.com"
    assert found(text) == [("CN_RESIDENT_ID", RID), ("CN_MOBILE", "13912345678"),
                           ("EMAIL", "w5@example.com")]


# --- the Arrow prefilter never hides a finding -------------------------------------------------


@settings(deadline=None)  # the first call loads jieba's dictionary
@given(st.lists(st.sampled_from([
    RID, "13912345678", "+86 139 1234 5678", "１３９１２３４５６７８", "a@b.cn", "ｗ＠ｅｘａｍｐｌｅ．ｃｏｍ", CARD,
    " ".join(CARD16[i:i + 4] for i in range(0, 16, 4)), "张三", "订单", "12345", " ", ",", "-", "0",
    "㈠", "@", "①", "²", "㏩", "٣", "＋８６",
]), max_size=6).map("".join))
def test_running_only_the_detectors_whose_hint_matches_changes_nothing(text):
    hinted = tuple(d for d in DETECTORS if pc.match_substring_regex(pa.array([text]), d.hint)[0].as_py())
    assert detect(text, hinted) == detect(text)
