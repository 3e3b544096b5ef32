"""Column labels and grades (PIPL Art. 28, GB/T 35273-2020 Annex B, GB/T 43697-2024)."""

from __future__ import annotations

import pytest

from suanshu.scan.classify import classify_column, dataset_grade


@pytest.mark.parametrize(("cells", "pi", "grade"), [
    ({}, "none", "general-2"),
    ({"EMAIL": 3}, "personal", "general-3"),
    ({"CN_MOBILE": 1}, "personal", "general-3"),
    ({"CN_RESIDENT_ID": 1}, "sensitive", "general-4"),
    ({"BANK_CARD": 2, "CN_MOBILE": 5}, "sensitive", "general-4"),
])
def test_content_sets_the_label(cells, pi, grade):
    c = classify_column("c1", cells)
    assert (c["pi"], c["grade"]) == (pi, grade)
    assert {e["match"] for e in c["evidence"]} == set(cells)
    assert all(e["source"] == "content" and e["basis"] for e in c["evidence"])


@pytest.mark.parametrize(("name", "pi"), [
    ("身份证号", "sensitive"), ("证件号码", "sensitive"), ("银行卡", "sensitive"), ("会员卡号", "sensitive"),
    ("诊断结果", "sensitive"), ("既往病史", "sensitive"), ("宗教信仰", "sensitive"), ("指纹模板", "sensitive"),
    ("基因检测", "sensitive"),
    ("姓名", "personal"), ("手机号", "personal"), ("联系电话", "personal"), ("邮箱", "personal"),
    ("家庭住址", "personal"), ("收货地址", "personal"),
    ("id_card_no", "sensitive"), ("IdCard", "sensitive"), ("bank_card", "sensitive"),
    ("diagnosis", "sensitive"), ("name", "personal"), ("customerPhone", "personal"),
    ("E-mail", "personal"), ("home_address", "personal"), ("full_name", "personal"),
    ("product_name", "none"), ("filename", "none"), ("amount", "none"), ("城市", "none"),
    ("订单号", "none"), ("hotel", "none"),
])
def test_header_alone_can_raise_the_label(name, pi):
    assert classify_column(name, {})["pi"] == pi


def test_header_and_content_both_count_and_the_higher_wins():
    c = classify_column("手机", {"CN_RESIDENT_ID": 4})
    assert c["pi"] == "sensitive"
    assert {(e["source"], e["pi"]) for e in c["evidence"]} == {("content", "sensitive"),
                                                              ("header", "personal")}


def test_dataset_grade_is_the_highest_column_grade():
    cols = [classify_column("a", {}), classify_column("手机", {}), classify_column("b", {})]
    assert dataset_grade(cols) == "general-3"
    assert dataset_grade(cols + [classify_column("x", {"BANK_CARD": 1})]) == "general-4"
    assert dataset_grade([]) == "general-2"


@pytest.mark.parametrize(("name", "category"), [
    ("诊断结果", "health"), ("病历号", "health"), ("宗教信仰", "religion"), ("人脸特征", "biometrics"),
    ("指纹模板", "biometrics"), ("月收入", "financial_account"), ("是否未成年", "minors"),
    ("儿童年龄", "minors"), ("GPS定位", "precise_location"), ("出行轨迹", "tracks"),
    ("latitude", "precise_location"), ("trajectory_id", "tracks"), ("religion", "religion"),
])
def test_semantic_sensitive_classes_come_from_the_header(name, category):
    c = classify_column(name, {})
    assert c["pi"] == "sensitive" and category in c["categories"], c


def test_content_categories_and_organisation_codes():
    assert classify_column("x", {"GEO_COORDINATE": 3})["pi"] == "sensitive"
    assert classify_column("x", {"CN_LICENSE_PLATE": 3})["categories"] == ["vehicle"]
    assert classify_column("x", {"CN_USCC": 3})["pi"] == "none"  # an organisation, not a person


def test_dataset_summary_flags_important_data_candidates():
    from suanshu.scan.classify import IMPORTANT_CANDIDATE_ROWS, dataset_summary

    cols = [{"name": n, **classify_column(n, {})} for n in ("身份证号", "手机")]
    small = dataset_summary(cols, 10)
    assert (small["basis"], small["level"], small["grade"]) == ("GB/T 43697-2024", "general", "general-4")
    assert small["sensitive_columns"] == ["身份证号"] and not small["important_candidate"]
    assert dataset_summary(cols, IMPORTANT_CANDIDATE_ROWS)["important_candidate"]
