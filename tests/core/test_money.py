import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanshu.core.errors import UsageError
from suanshu.core.money import format_fen, parse_amount, split_commission


@pytest.mark.parametrize("text, fen", [("12.34", 1234), ("¥12.3", 1230), ("￥0.05", 5), ("12元", 1200),
                                       ("1234fen", 1234), ("99分", 99), (" 7 ", 700), (42, 42)])
def test_parse_amount(text, fen):
    assert parse_amount(text) == fen


@pytest.mark.parametrize("text", ["12.345", "-1", "1e3", "abc", "", "1,000", True, -5])
def test_parse_amount_refuses(text):
    with pytest.raises(UsageError):
        parse_amount(text)


def test_format_fen():
    assert format_fen(123456) == "¥1,234.56"
    assert format_fen(-5) == "-¥0.05"
    assert format_fen(0) == "¥0.00"


@given(st.integers(0, 10**15), st.integers(0, 10_000))
def test_split_is_exact_and_rounds_commission_down(amount, bps):
    provider, operator = split_commission(amount, bps)
    assert provider + operator == amount
    assert 0 <= operator <= amount * bps / 10_000 < operator + 1


@given(st.integers(0, 10**12))
def test_format_parse_round_trip(fen):
    assert parse_amount(format_fen(fen).replace(",", "")) == fen
