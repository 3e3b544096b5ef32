"""Header keywords for the sensitive classes of GB/T 35273-2020 Annex B that no regex finds."""

from __future__ import annotations

import pytest

from suanshu.scan.classify import classify_column


@pytest.mark.parametrize(("name", "pi", "category"), [
    ("健康状况", "sensitive", "health"), ("健康码", "sensitive", "health"), ("医疗记录", "sensitive", "health"),
    ("医保", "sensitive", "health"), ("疫苗接种", "sensitive", "health"), ("核酸检测结果", "sensitive", "health"),
    ("病人", "sensitive", "health"), ("Patient", "sensitive", "health"), ("patient_name", "sensitive", "health"),
    ("体重", "sensitive", "health"), ("身高", "sensitive", "health"),
    ("通话记录", "sensitive", "communications"), ("聊天记录", "sensitive", "communications"),
    ("通讯录", "sensitive", "communications"), ("call_log", "sensitive", "communications"),
    ("浏览记录", "sensitive", "browsing_history"), ("browsing_history", "sensitive", "browsing_history"),
    ("照片", "sensitive", "biometrics"), ("头像", "sensitive", "biometrics"), ("人像", "sensitive", "biometrics"),
    ("出生年月", "personal", "demographic"), ("出生", "personal", "demographic"),
    ("联系方式", "personal", "contact"),
])
def test_header_names_the_class(name, pi, category):
    c = classify_column(name, {}, 5)
    assert (c["pi"], c["categories"]) == (pi, [category]), c


def test_the_longer_keyword_decides():
    """卡号 inside 医保卡号 is a health insurance card, not a bank card; 医疗 alone is no keyword."""
    c = classify_column("医保卡号", {}, 5)
    assert (c["pi"], c["categories"]) == ("sensitive", ["health"]), c
    assert classify_column("银行卡号", {}, 5)["categories"] == ["financial_account"]
    assert classify_column("医疗机构名称", {}, 5)["pi"] == "none"
    assert classify_column("image_height", {}, 5)["pi"] == "none"
