"""Check digits, birth dates and area codes (GB 11643-1999, ISO/IEC 7812 Luhn)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from suanshu.scan import validators as v

AREAS = ["110105", "310104", "440305", "510107", "360426", "650102", "330106", "420111"]


def make_id(area: str, born: dt.date, seq: int) -> str:
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    return first17 + v.resident_id_check_char(first17)


resident_ids = st.builds(
    make_id, st.sampled_from(AREAS),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today()), st.integers(0, 999))


@pytest.mark.parametrize("good", ["11010519491231002X", "11010519491231002x", "360426199101010071",
                                  "110105491231002"])
def test_known_good_ids(good):
    assert v.is_resident_id(good)


@pytest.mark.parametrize("bad", [
    "110105194912310021",  # wrong check character
    "110105194902300024",  # 1949-02-30 does not exist
    "000000199001011234",  # no such area
    "110105189912310010",  # born before 1900
    "11010519491231002",  # 17 characters
    "1101051949123100XX",
    "110105491331002",  # legacy form, month 13
    "１１０１０５１９４９１２３１００２Ｘ",  # full-width: detectors normalise first, validators do not
])
def test_bad_ids(bad):
    assert not v.is_resident_id(bad)


def test_future_birth_date_is_not_real():
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert not v.is_resident_id(make_id("110105", tomorrow, 1))


@given(resident_ids)
def test_generated_ids_are_valid_and_agree_with_stdnum(rid):
    assert v.is_resident_id(rid)
    assert ric.calc_check_digit(rid) == rid[-1]


@given(resident_ids, st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_is_caught(rid, pos, delta):
    mutated = rid[:pos] + str((int(rid[pos]) + delta) % 10) + rid[pos + 1:]
    assert v.resident_id_check_char(mutated[:17]) != mutated[17]
    assert not v.is_resident_id(mutated)


@given(resident_ids, st.sampled_from("0123456789X"))
def test_a_wrong_check_character_is_caught(rid, check):
    if check != rid[-1]:
        assert not v.is_resident_id(rid[:17] + check)


def test_area_codes_come_from_the_stdnum_table():
    assert v.is_area_code("110105")
    assert v.is_area_code("110103")  # 崇文区, abolished 2010: old IDs keep it
    assert not v.is_area_code("119999")
    assert not v.is_area_code("11010")


@pytest.mark.parametrize(("number", "ok"), [("4111111111111111", True), ("4111111111111112", False),
                                            ("6222021234567890128", True), ("79927398713", True),
                                            ("7992739871x", False)])
def test_luhn_examples(number, ok):
    assert v.is_luhn(number) is ok


@given(st.text("0123456789", min_size=15, max_size=18))
def test_luhn_check_digit_round_trip(partial):
    assert v.is_luhn(partial + v.luhn_check_digit(partial))


@given(st.text("0123456789", min_size=15, max_size=18), st.data())
def test_luhn_catches_any_single_digit_change(partial, data):
    number = partial + v.luhn_check_digit(partial)
    pos = data.draw(st.integers(0, len(number) - 1))
    delta = data.draw(st.integers(1, 9))
    assert not v.is_luhn(number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1:])


def luhn_passing_id() -> str:
    """A valid resident ID that also passes Luhn (about one in ten do)."""
    for seq in range(1000):
        rid = make_id("110105", dt.date(1990, 3, 7), seq)
        if rid[-1] != "X" and v.is_luhn(rid):
            return rid
    raise AssertionError("no Luhn-passing ID found")


def test_a_resident_id_is_never_a_bank_card():
    rid = luhn_passing_id()
    assert v.is_luhn(rid) and v.is_resident_id(rid)
    assert not v.is_bank_card(rid)


@pytest.mark.parametrize(("digits", "ok"), [
    ("6222021234567890128", True),
    ("4111111111111111", True),
    ("0000000000000000", False),  # passes Luhn but is filler
    ("041111111111111" + v.luhn_check_digit("041111111111111"), False),  # leading 0
    ("411111111111111", False),  # 15 digits
    ("62220212345678901280", False),  # 20 digits
])
def test_bank_card_rules(digits, ok):
    assert v.is_bank_card(digits) is ok
