"""The detector families added after the first scanner: positives with exact offsets inside
Chinese sentences (no spaces, full-width digits) and hard negatives that only look alike."""

from __future__ import annotations

import pyarrow as pa
import pytest

from suanshu.scan import validators as v
from suanshu.scan.detectors import ID_DETECTORS, TEXT_DETECTORS, Match, detect

USCC = "91110000600037341L"  # check character and embedded GB 11714 code both verify


def fw(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def only(text: str, kind: str, piece: str, detectors=ID_DETECTORS) -> None:
    start = text.index(piece)
    assert detect(text, detectors) == [Match(start, start + len(piece), kind)], text


def nothing(text: str, detectors=ID_DETECTORS) -> None:
    assert detect(text, detectors) == [], text


@pytest.mark.parametrize(("text", "piece"), [
    ("办公电话010-88886666转123", "010-88886666转123"),
    ("電話：(010)8888-6666，", "(010)8888-6666"),
    ("（0755）2345 6789", "（0755）2345 6789"),
    ("+86 10 88886666", "+86 10 88886666"),
    ("+86-755-23456789", "+86-755-23456789"),
    ("总机0731-2345678", "0731-2345678"),
    ("座机01088886666谢谢", "01088886666"),
    ("分机 021-62345678 ext. 808", "021-62345678 ext. 808"),
])
def test_landline_positives(text, piece):
    only(text, "CN_LANDLINE", piece)


@pytest.mark.parametrize("text", [
    "订单031234567890",  # 12 digits with no separator: a serial, not 0XXX + 8
    "010-1234567",  # 010 takes 8 local digits, and they never start with 1
    "2023-12345678", "¥0755.23", "12345678",
])
def test_landline_negatives(text):
    nothing(text)


@pytest.mark.parametrize(("text", "piece"), [
    (USCC, USCC), (f"统一社会信用代码：{USCC}。", USCC), (fw(USCC), fw(USCC)),
])
def test_uscc_positives(text, piece):
    only(text, "CN_USCC", piece)


def test_uscc_negatives():
    bad_check = USCC[:17] + ("A" if USCC[17] != "A" else "B")
    org8 = USCC[8:16]
    wrong_org = USCC[:16] + ("0" if v.org_code_check_char(org8) != "0" else "1")
    wrong_org = wrong_org + v.uscc_check_char(wrong_org)  # own check fixed, embedded code broken
    for text in (bad_check, wrong_org, "91110000600037341I", "A" + USCC):
        assert [m.type for m in detect(text, ID_DETECTORS)] != ["CN_USCC"], text


@pytest.mark.parametrize(("text", "piece"), [
    ("护照号E12345678，", "E12345678"), ("passport G87654321", "G87654321"), ("护照EA1234567", "EA1234567"),
    ("外交护照DE1234567", "DE1234567"),
])
def test_passport_positives(text, piece):
    only(text, "CN_PASSPORT", piece)


@pytest.mark.parametrize("text", ["E1234567", "XE12345678", "G123456789", "e12345678"])
def test_passport_negatives(text):
    nothing(text)


@pytest.mark.parametrize(("text", "piece"), [
    ("车牌京A12345违章", "京A12345"), ("粤B·D12345", "粤B·D12345"), ("沪AD12345", "沪AD12345"),
    ("苏E12345F", "苏E12345F"), ("川A1234学", "川A1234学"),
])
def test_plate_positives(text, piece):
    only(text, "CN_LICENSE_PLATE", piece)


@pytest.mark.parametrize("text", ["京ABCDEF", "京A123", "京I12345", "粤B1234567"])
def test_plate_negatives(text):
    nothing(text)


@pytest.mark.parametrize(("text", "piece"), [
    ("登录IP192.168.1.10成功", "192.168.1.10"), ("来自２０２．１０８．２２．５", "２０２．１０８．２２．５"),
    ("v6地址fe80::1ff:fe23:4567:890a。", "fe80::1ff:fe23:4567:890a"), ("2001:db8::1", "2001:db8::1"),
])
def test_ip_positives(text, piece):
    only(text, "IP_ADDRESS", piece)


@pytest.mark.parametrize("text", ["256.1.1.1", "1.2.3", "1.2.3.4.5", "时间12:30:45", "版本3.2.1", "ab::cd::ef"])
def test_ip_negatives(text):
    nothing(text)


@pytest.mark.parametrize(("text", "piece"), [
    ("坐标39.904211,116.407395附近", "39.904211,116.407395"),
    ("经纬度：116.4074, 39.9042", "116.4074, 39.9042"),
    ("位置３９．９０４２１１，１１６．４０７３９５", "３９．９０４２１１，１１６．４０７３９５"),
    ("位置北纬39.9042°，东经116.4074°。", "北纬39.9042°，东经116.4074°"),
    ("map?lat=39.904211&lng=116.407395&z=3", "lat=39.904211&lng=116.407395"),
    ("{lat: 39.904211, lng: 116.407395}", "lat: 39.904211, lng: 116.407395"),
    ("N39.9042 E116.4074", "N39.9042 E116.4074"),
    ("位置39°54′15″N, 116°24′26″E。", "39°54′15″N, 116°24′26″E"),
    ("北纬39度54分15秒，东经116度24分26秒附近", "北纬39度54分15秒，东经116度24分26秒"),
    ("坐标 39°54'15.6\"N 116°23'29.4\"E ", "39°54'15.6\"N 116°23'29.4\"E"),
    ("GPS: E 116° 24′ 26″、N 39° 54′ 15″", "E 116° 24′ 26″、N 39° 54′ 15″"),
    ("Ｎ３９°５４′１５″，Ｅ１１６°２４′２６″", "Ｎ３９°５４′１５″，Ｅ１１６°２４′２６″"),
])
def test_coordinate_positives(text, piece):
    only(text, "GEO_COORDINATE", piece)
    from test_engine import engine, reference  # the column engine finds what the definition finds

    assert engine([text])[0] == reference(text)


@pytest.mark.parametrize("text", [
    "39.90,116.41", "金额1234.5678,99.1234", "95.123456,200.123456",
    "39°54′N, 116°24′E",  # minutes only: about 2 km, not precise
    "39°54′75″N, 116°24′26″E",  # 75 seconds
    "北纬39°54′15″，北纬40°1′1″",  # two latitudes
    "N95°1′1″, E116°24′26″",  # out of range
    "角度30°15′20″ 和 45°10′5″",  # not a pair
])
def test_coordinate_negatives(text):
    nothing(text)  # too coarse to be precise; out of range


@pytest.mark.parametrize(("text", "kind", "piece"), [
    ("出生日期：1990-05-12", "DATE_OF_BIRTH", "1990-05-12"),
    ("生日1988年7月3日", "DATE_OF_BIRTH", "1988年7月3日"),
    ("QQ：123456789", "QQ_NUMBER", "123456789"),
    ("加微信wxid_abc123 聊", "WECHAT_ID", "wxid_abc123"),
    ("邮编：100020", "POSTAL_CODE", "100020"),
])
def test_context_bound_types(text, kind, piece):
    only(text, kind, piece)


@pytest.mark.parametrize("text", [
    "下单日期2024-05-12", "1990-05-12", "出生日期：1990-02-30", "订单100020", "QQ群", "微信支付"])
def test_context_bound_negatives(text):
    nothing(text)


def test_a_tie_with_an_id_from_a_card_like_area():
    from suanshu.scan.detectors import detectors_for

    for seq in range(1000):
        first17 = f"44030519900307{seq:03d}"  # 44… : an MII-4 (banking) start
        rid = first17 + v.resident_id_check_char(first17)
        if v.is_luhn(rid):
            break
    assert [m.type for m in detect(rid, detectors_for(card_header=False))] == ["CN_RESIDENT_ID"]
    assert [m.type for m in detect(f"卡号{rid}", detectors_for(card_header=True))] == ["BANK_CARD"]


def test_in_an_id_column_a_mistyped_id_is_no_card():
    """18 digits with an ID's area and birth date but a wrong check character pass Luhn one time in
    ten: under a 身份证号 header that is a mistyped ID (no finding), elsewhere it may be a card."""
    from suanshu.scan.report import scan_table

    mistyped = []
    for seq in range(200):
        first17 = f"44030419900101{seq:03d}"
        good = v.resident_id_check_char(first17)
        mistyped += [first17 + c for c in "0123456789" if c != good and v.is_luhn(first17 + c)]
    assert len(mistyped) >= 20 and not any(map(v.is_resident_id, mistyped))
    assert v.are_resident_ids(mistyped, checked=False).all()
    for header, types in (("身份证号", []), ("号码", ["BANK_CARD"])):
        column = scan_table(pa.table({header: mistyped}), source="t", encoding=None)["columns"][0]
        assert [t["type"] for t in column["types"]] == types, header


def test_order_numbers_are_not_cards():
    nothing("订单号" + "1" * 3 + "2345678901234567")  # MII 1: airlines, never a payment card


def test_many_identifiers_in_one_sentence():
    text = "张伟（身份证11010519491231002X）手机１３９１２３４５６７８，住北京市朝阳区建国路88号，车牌京A·D12345。"
    got = [(m.type, text[m.start:m.end]) for m in detect(text)]
    assert got == [("PERSON_NAME", "张伟"), ("CN_RESIDENT_ID", "11010519491231002X"),
                   ("CN_MOBILE", "１３９１２３４５６７８"), ("ADDRESS", "北京市朝阳区建国路88号"),
                   ("CN_LICENSE_PLATE", "京A·D12345")]
    assert TEXT_DETECTORS  # names and addresses come from the text family


def test_a_full_width_colon_is_punctuation_not_part_of_an_ipv6_address():
    only("登录IP：fe80::1ff:fe23:4567:890a。", "IP_ADDRESS", "fe80::1ff:fe23:4567:890a")
