"""The column engine (RE2 in rounds, character counts, whole cells, coverage, distinct values)
finds exactly what the plain definition finds: each detector's Python regex over each cell,
its validator, overlaps resolved by priority. And each batch shortcut agrees with its scalar form."""

from __future__ import annotations

import ipaddress
import random

import pyarrow as pa
import pytest
from fixtures.scan_corpus import news, table
from hypothesis import given, settings
from hypothesis import strategies as st

from suanshu.scan import names
from suanshu.scan import validators as v
from suanshu.scan.detectors import (
    DETECTORS,
    ID_DETECTORS,
    TEXT_DETECTORS,
    Match,
    detectors_for,
    fold,
    scan_array,
)
from suanshu.scan.detectors.base import DEGREE_MARKS, FEATURES
from suanshu.scan.detectors.contact import EmailDetector, LandlineDetector
from suanshu.scan.detectors.location import GeoCoordinateDetector
from suanshu.scan.detectors.network import IPv6Detector
from suanshu.scan.detectors.vehicle import LicensePlateDetector

RID = "11010519491231002X"
CARD = "622202123456789012" + v.luhn_check_digit("622202123456789012")
CARD16 = "621700000000000" + v.luhn_check_digit("621700000000000")


def reference(text: str, detectors=DETECTORS) -> list[Match]:
    """The definition: every detector on its own over the one cell, then overlaps by priority."""
    folded = fold(text)
    cands = []
    for prio, d in enumerate(detectors):
        if d.value is None:
            spans = list(d.find(text))
        else:
            spans = [(s, e) for s, e, c in d.spans(folded) if d.validate(c)]
        cands += [(prio, s, e, d.type) for s, e in spans]
    taken: list[tuple[int, int, str]] = []
    for _, s, e, t in sorted(cands):
        if not any(s < te and ts < e for ts, te, _ in taken):
            taken.append((s, e, t))
    return sorted(Match(s, e, t) for s, e, t in taken)


def engine(cells: list[str], detectors=DETECTORS) -> list[list[Match]]:
    found = scan_array(pa.array(cells, pa.string()), detectors)
    out: list[list[Match]] = [[] for _ in cells]
    for row, m in found.matches():
        out[row].append(m)
    return out


@pytest.mark.parametrize("business", [False, True])
def test_engine_equals_the_definition_on_the_corpus(business):
    cols, _ = table(400, seed=3, with_business=business)
    for name, cells in cols.items():
        for card, ids in ((False, False), (True, False), (False, True)):
            chosen = detectors_for(card_header=card, id_header=ids)
            got = engine(cells, chosen)
            for cell, matches in zip(cells, got, strict=True):
                assert matches == reference(cell, chosen), (name, cell)


def test_engine_equals_the_definition_on_news_text():
    cells = [t for t, _ in news(300, seed=4)]
    for cell, matches in zip(cells, engine(cells), strict=True):
        assert matches == reference(cell), cell


def test_repeated_values_are_scanned_once_and_mapped_to_every_row():
    cells = (["13912345678", "客服电话13912345678", None, "王小明", "已发货"] * 200)[:1000]
    got = engine(cells)
    assert got == [reference(c) if c is not None else [] for c in cells]
    assert sum(len(g) for g in got) == 600


FRAGMENTS = [
    RID, RID.lower(), "110105491231002", "13912345678", "+86 139 1234 5678", "0086-139-1234-5678",
    "１３９１２３４５６７８", "010-62345678", "(0755)2345678转123", "+86-21-62345678", "a.b@qq.com",
    "ｗ＠ｅｘａｍｐｌｅ．ｃｏｍ", CARD, " ".join(CARD16[i:i + 4] for i in range(0, 16, 4)), "-".join(
        CARD16[i:i + 4] for i in range(0, 16, 4)), "91350100M000100Y43", "E12345678", "EA1234567",
    "京A·12345", "粤BD12345", "192.168.1.1", "fe80::1:2", "2001:db8::1", "12:30:45", "39.904200,116.407400",
    "N39.9042°, E116.4074°", "39°54′15″N", ", 116°24′26.5″E", "北纬39度54分15秒", "东经116度24分26秒", "°", "度", "′", "″", "出生日期：1990-01-01", "QQ：12345678", "微信号: wxid_abc123", "邮编100080",
    "张三", "欧阳明辉", "北京市朝阳区建国路88号", "高兴", "华为", "订单号", "12345", "3.14", " ", ",", "-", ".",
    "0", "@", ":", "x", "X", "＋８６", "٣", "。", "\u3000", "住", "路", "号",
]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join), min_size=1, max_size=8))
def test_engine_equals_the_definition_on_generated_cells(cells):
    for cell, matches in zip(cells, engine(cells), strict=True):
        assert matches == reference(cell), cell


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join))
def test_needs_are_necessary(text):
    """Every candidate a detector validates lies in a cell with the characters it ``needs``."""
    folded = fold(text).encode("utf-8")
    counts = {f: sum(t[b] for b in folded) for f, t in FEATURES.items() if t is not None}
    counts["ipv6"] = 7 if b"::" in folded else counts[":"]
    counts["degree"] = sum(folded.count(m) for m in DEGREE_MARKS)
    for d in ID_DETECTORS:
        if any(d.validate(c) for _, _, c in d.spans(fold(text))):
            assert all(counts[f] >= n for f, n in d.needs.items()), (type(d).__name__, text)


def test_offsets_stay_the_original_cells_after_folding_in_a_mixed_column():
    cells = ["电话：１３９１２３４５６７８。", "13912345678", "张三的卡号" + CARD, "无"]
    got = engine(cells, ID_DETECTORS)
    assert [[c[m.start:m.end] for m in ms] for c, ms in zip(cells, got, strict=True)] == [
        ["１３９１２３４５６７８"], ["13912345678"], [CARD], []]


# --- batch forms agree with their scalar forms -------------------------------------------------

@settings(deadline=None, max_examples=500)
@given(st.text(alphabet="0123456789abcdefABCDEFg:.", max_size=45))
def test_inet_pton_agrees_with_ipaddress(text):
    try:
        ipaddress.IPv6Address(text)
        expected = 3 <= len(text) <= 39 and text.count(":") >= 2 and any(c.isalnum() for c in text)
    except ValueError:
        expected = False
    assert IPv6Detector().validate(text) == expected


@settings(deadline=None, max_examples=300)
@given(st.lists(st.text(alphabet="ab1.-_%+@", min_size=1, max_size=12).map(lambda s: s + ".cn"), max_size=20))
def test_email_batch_validation_agrees(cands):
    e = EmailDetector()
    cands = [c for c in cands if e.pattern.fullmatch(c)]  # what the engine hands to validation
    assert e.validate_many(cands).tolist() == [e.validate(c) for c in cands]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.floats(-200, 200), st.floats(-200, 200), st.sampled_from([",", ", ", " ", ";"])),
                max_size=20))
def test_coordinate_batch_validation_agrees(pairs):
    g = GeoCoordinateDetector()
    cands = [f"{a:.5f}{sep}{b:.5f}" for a, b, sep in pairs]
    assert g.validate_many(cands).tolist() == [bool(g.validate(c)) for c in cands]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.text(alphabet="京粤AB·DF0123456789挂学", min_size=2, max_size=9).map(lambda s: "京A" + s), max_size=30))
def test_plate_batch_validation_agrees(cands):
    p = LicensePlateDetector()
    assert p.validate_many(cands).tolist() == [p.validate(c) for c in cands]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.text(alphabet="0123456789-() 转", min_size=1, max_size=16), max_size=30))
def test_landline_batch_validation_agrees(cands):
    d = LandlineDetector()
    assert d.validate_many(cands).tolist() == [d.validate(c) for c in cands]


NAME_CHARS = "王李张刘欧阳司马诸葛高兴黄山华南仓店区路伟芳明辉一二三娜敏 子涵"


@settings(deadline=None, max_examples=200)
@given(st.lists(st.text(alphabet=NAME_CHARS, max_size=6), max_size=50))
def test_name_cells_agrees_with_is_name_cell(words):
    words = [w.strip() for w in words]
    assert names.name_cells(words).tolist() == [names.is_name_cell(w, simplified=True) for w in words]


def test_name_cells_on_the_corpus():
    cols, _ = table(500, seed=9, with_business=True)
    words = [names.simplified(c).strip() for col in cols.values() for c in col]
    words += [c for c in random.Random(2).sample(NAME_CHARS * 40, 400)]
    assert names.name_cells(words).tolist() == [names.is_name_cell(w, simplified=True) for w in words]


def test_text_detectors_only_see_cells_not_covered():
    # a whole address leaves nothing for the name detectors: a name inside it would overlap anyway
    cells = ["北京市朝阳区建国路88号", "王伟住在北京市朝阳区建国路88号"]
    assert engine(cells, TEXT_DETECTORS) == [reference(c, TEXT_DETECTORS) for c in cells]


@pytest.mark.parametrize("longest", [30, 300, 70_000])
def test_packed_class_counts_equal_counts_one_class_at_a_time(longest):
    """Per-cell class counts from the packed lookup (8-bit fields below 256 bytes a cell, 16-bit
    below 64 kB, class by class above) equal a plain count of each class's characters."""
    from suanshu.scan.detectors.base import PACKED_FEATURES
    from suanshu.scan.detectors.engine import _Column

    rng = random.Random(longest)
    alphabet = "0123456789AZaz@.:： 　１２张號—，-x"
    cells = ["", "13912345678", "张三@163.com", "a" * 255, "9" * 255]
    cells += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(min(longest, 400)))) for _ in range(40)]
    cells += ["9" * longest, "张" * (longest // 3)]
    col = _Column(pa.array(cells, pa.string()))
    for feature in PACKED_FEATURES:
        table = FEATURES[feature]
        expected = [sum(int(table[b]) for b in fold(c).encode()) for c in cells]
        assert col.count(feature).tolist() == expected, feature


@pytest.mark.parametrize("longest", [200, 3000])
def test_packed_class_counts_over_many_pieces(longest):
    """A column of several ``PACKED_CHUNK`` pieces (cells cut at piece boundaries, runs of empty
    cells, a long cell across a boundary): the counts equal a plain count of each class."""
    from suanshu.scan.detectors.base import PACKED_FEATURES
    from suanshu.scan.detectors.engine import PACKED_CHUNK, _Column

    rng = random.Random(longest)
    alphabet = "0123456789AZaz@.:： １张號，-"
    cells = []
    while sum(len(c.encode()) for c in cells) < 4 * PACKED_CHUNK:
        k = rng.randrange(4)
        cells += [""] * rng.randrange(5) if k == 0 else \
            ["".join(rng.choice(alphabet) for _ in range(rng.randrange(longest if k == 1 else 30)))]
    cells += [""]
    col = _Column(pa.array(cells, pa.string()))
    for feature in PACKED_FEATURES:
        table = FEATURES[feature]
        expected = [sum(int(table[b]) for b in fold(c).encode()) for c in cells]
        assert col.count(feature).tolist() == expected, feature


def test_candidate_strings_are_the_byte_spans_in_any_order():
    """``_Column.strings``: Python strings of byte spans of the folded column, in the order
    given (sorted or not; overlapping spans, which no detector yields, one by one)."""
    import numpy as np

    from suanshu.scan.detectors.engine import _Column

    col = _Column(pa.array(["电话１３９", None, "ab", "张三x"], pa.string()))
    assert col.data.tobytes().decode() == "电话139ab张三x"

    def strings(spans):
        return col.strings(np.array([b for b, _ in spans]), np.array([e for _, e in spans]))

    assert strings([(6, 9), (0, 6), (9, 11), (11, 17)]) == ["139", "电话", "ab", "张三"]
    assert strings([(6, 9), (0, 6), (11, 17), (14, 18)]) == ["139", "电话", "张三", "三x"]
    assert strings([]) == []


@settings(deadline=None, max_examples=200)
@given(st.text(alphabet="0123456789", min_size=1, max_size=24))
def test_digit_bounded_detectors_find_only_the_whole_cell_in_digits(cell):
    """The engine skips the RE2 rounds for a cell of digits alone whose detector is digit-bounded
    (``engine._digit_bounded``): by the detector's own Python regex such a cell holds no candidate
    but the whole cell."""
    from suanshu.scan.detectors.engine import _digit_bounded

    bounded = [d for d in ID_DETECTORS if _digit_bounded(d)]
    assert {type(d).__name__ for d in bounded} >= {"ResidentIdDetector", "BankCardDetector", "MobileDetector"}
    for d in bounded:
        assert all((s, e) == (0, len(cell)) for s, e, _ in d.spans(cell)), type(d).__name__


def test_degree_marks_are_counted_per_cell():
    from suanshu.scan.detectors.engine import _Column

    col = _Column(pa.array(["39°54′15″", None, "", "北纬39度", "x°°º", "温度", "度"], pa.string()))
    assert col.count("degree").tolist() == [1, 0, 0, 1, 3, 1, 1]
