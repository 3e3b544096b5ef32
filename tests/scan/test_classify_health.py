"""Health data found by content under a header that says nothing (GB/T 35273-2020 Annex B)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from suanshu.scan.classify import classify_column


def label(values: list[str], name: str = "结果") -> tuple[str, list[str]]:
    c = classify_column(name, {}, len(values), values=pa.array(values, pa.string()))
    return c["pi"], c["categories"]


def test_a_column_of_diagnoses_is_health():
    c = classify_column("结果", {}, 5, values=pa.array(["2型糖尿病", "原发性高血压", "HIV感染", "抑郁症", "肺癌"]))
    assert (c["pi"], c["grade"], c["categories"]) == ("sensitive", "general-4", ["health"])
    [e] = c["evidence"]
    assert (e["source"], e["match"], e["values"], e["share"]) == ("content", "diagnosis terms", 5, 1.0)
    # mostly 正常 in the cells, but most of the distinct values are diagnoses
    assert label(["正常", "急性阑尾炎", "左腿骨折", "社区获得性肺炎", "流感"]) == ("sensitive", ["health"])


@pytest.mark.parametrize("values", [
    ["病毒营销", "北京肿瘤医院", "糖尿病防治指南", "世界糖尿病日", "XX制药有限公司"],  # words around health
    ["合格", "不合格", "待定", "通过"],
    ["李炎", "张伟", "王芳", "陈晓燕"],  # a given name may end like a diagnosis
    ["老毛病", "通病", "感冒", "设备正常"],  # one diagnosis is not a column of them
])
def test_other_columns_are_not_health(values):
    assert label(values) == ("none", [])


def test_a_scan_reads_a_columns_values_for_health_terms():
    """Through the whole scan: the profile's distinct values reach the classifier."""
    import pyarrow as pa

    from suanshu.scan.report import scan_table

    t = pa.table({"编号": [str(i) for i in range(10)], "结果": ["2型糖尿病", "原发性高血压", "HIV感染", "抑郁症", "肺癌"] * 2})
    cols = {c["name"]: c for c in scan_table(t, source="t", encoding=None)["columns"]}
    assert (cols["结果"]["pi"], cols["结果"]["categories"]) == ("sensitive", ["health"])
    assert cols["编号"]["pi"] == "none"
