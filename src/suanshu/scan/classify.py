"""Column labels (personal / sensitive) and grades, from findings and header names.

Standards:
- PIPL Art. 28 and GB/T 35273-2020 Annex B define *sensitive* personal information: identity
  documents, financial accounts, medical and health, religion, biometrics (fingerprint, genes)…
  Other information about an identifiable person (name, phone, e-mail, address) is *personal*.
- GB/T 43697-2024 grades data as core / important / general; general data is commonly split into
  levels 1-4. We map: no personal information -> general-2 (internal by default, since a provider's
  raw table is not public unless they say so), personal -> general-3, sensitive -> general-4.
  A dataset takes the highest grade of its columns.

Evidence from content and from the header are both kept, so a reviewer sees why; either one alone
can raise the label (a header 身份证号 over an empty column is still an ID column).
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

PI_LEVELS = ("none", "personal", "sensitive")
PI_GRADE = {"none": "general-2", "personal": "general-3", "sensitive": "general-4"}
GRADES = ("general-1", "general-2", "general-3", "general-4")

BASIS_SENSITIVE = "PIPL Art. 28; GB/T 35273-2020 Annex B"
BASIS_PERSONAL = "PIPL Art. 4"

# What a finding of each type says about its column: (pi, category).
TYPE_PI = {
    "CN_RESIDENT_ID": ("sensitive", "identity_document"),
    "CN_PASSPORT": ("sensitive", "identity_document"),
    "BANK_CARD": ("sensitive", "financial_account"),
    "GEO_COORDINATE": ("sensitive", "precise_location"),
    "CN_MOBILE": ("personal", "contact"),
    "CN_LANDLINE": ("personal", "contact"),
    "EMAIL": ("personal", "contact"),
    "QQ_NUMBER": ("personal", "contact"),
    "WECHAT_ID": ("personal", "contact"),
    "PERSON_NAME": ("personal", "name"),
    "ADDRESS": ("personal", "address"),
    "POSTAL_CODE": ("personal", "address"),
    "DATE_OF_BIRTH": ("personal", "demographic"),
    "CN_LICENSE_PLATE": ("personal", "vehicle"),
    "IP_ADDRESS": ("personal", "online_identifier"),
    # An organisation's registration code is public registration data, not personal information.
    "CN_USCC": ("none", "organization"),
}

# Header keywords, matched as substrings of the (Chinese) column name: (keyword, pi, category).
# The sensitive classes are those of PIPL Art. 28 / GB/T 35273-2020 Annex B, most of which no
# regex can find in the cells (a diagnosis is just words): the header is the evidence.
_ZH = {
    "identity_document": ("sensitive", "身份证 证件号 证件号码 护照 驾驶证 驾照 社保号 军官证 港澳通行证"),
    "financial_account": ("sensitive", ("银行卡 卡号 银行账号 账户 帐户 开户行 存款 余额 工资 薪资 薪酬 收入 "
                                        "征信 信用分 贷款 负债 交易记录 流水")),
    "health": ("sensitive", ("诊断 病历 病史 病例 疾病 病情 症状 处方 用药 体检 血型 过敏 住院 就诊 检验 "
                             "传染病 残疾 生育 怀孕 健康 医疗记录 医疗信息 医疗档案 医疗费 医保 医保卡号 接种 "
                             "核酸 病人 患者 体重 身高 血压 血糖")),
    "religion": ("sensitive", "宗教 信仰"),
    # A photo of a face is the raw form of the face features Annex B lists.
    "biometrics": ("sensitive", "指纹 人脸 面部 面容 虹膜 声纹 掌纹 基因 步态 DNA 照片 头像 人像"),
    "minors": ("sensitive", "未成年 儿童 婴儿 幼儿 学龄 监护人"),
    "precise_location": ("sensitive", "经纬度 经度 纬度 定位 坐标 位置信息 GPS"),
    "tracks": ("sensitive", "轨迹 行踪 行程 出行记录 住宿记录 开房 航班记录"),
    "credentials": ("sensitive", "密码 口令 密钥 验证码"),
    "specific_identity": ("sensitive", "性取向 犯罪 违法记录 前科"),
    # Annex B, other sensitive information: 通信记录和内容、通讯录、好友列表、群组列表、网页浏览记录.
    "communications": ("sensitive", "通话记录 通信记录 聊天记录 聊天内容 短信内容 通讯录 好友列表 群组列表"),
    "browsing_history": ("sensitive", "浏览记录 浏览历史 搜索记录 访问记录"),
    "name": ("personal", "姓名 名字 联系人 户主 收件人 收货人"),
    "contact": ("personal", "手机 电话 邮箱 微信 QQ 联系方式"),
    "address": ("personal", "地址 住址 户籍 籍贯 门牌 邮编"),
    "demographic": ("personal", "出生 生日 年龄 性别 民族 婚姻 学历"),
    "vehicle": ("personal", "车牌 车架号 VIN"),
    "online_identifier": ("personal", "IP地址 设备号 IMEI MAC地址"),
}
HEADER_KEYWORDS: tuple[tuple[str, str, str], ...] = tuple(
    (kw, pi, cat) for cat, (pi, words) in _ZH.items() for kw in words.split())

# English headers are matched on whole tokens (id_card, IdCard, "e-mail"), so that e.g.
# product_name or address_count do not trip a rule meant for a person's name.
_EN = {
    "identity_document": ("sensitive", "id card|idcard|id no|id number|passport|ssn|national id"),
    "financial_account": ("sensitive", ("bank card|card no|card number|account no|iban|salary|income|"
                                        "balance|credit score|loan")),
    "health": ("sensitive", ("diagnosis|disease|medical|health|symptom|prescription|allergy|blood type|"
                             "patient|vaccine|vaccination|bmi|body weight|body height")),
    "religion": ("sensitive", "religion|faith"),
    "biometrics": ("sensitive", ("fingerprint|face|iris|voiceprint|gene|genome|dna|biometric|avatar|portrait|"
                                 "headshot|selfie")),
    "minors": ("sensitive", "minor|child|children|guardian"),
    "precise_location": ("sensitive", "latitude|longitude|lat|lng|lon|gps|geo|location|coordinates"),
    "tracks": ("sensitive", "trajectory|track|trip|itinerary"),
    "credentials": ("sensitive", "password|passwd|secret|token"),
    "communications": ("sensitive", ("call log|call history|call record|call records|chat log|chat history|"
                                     "sms|contact list|address book")),
    "browsing_history": ("sensitive", "browsing history|browser history|search history"),
    "name": ("personal", "full name|real name|first name|last name|surname"),
    "contact": ("personal", "phone|mobile|tel|telephone|email|e mail|wechat|qq|contact"),
    "address": ("personal", "address|postcode|zip code|zipcode"),
    "demographic": ("personal", "birthday|birth date|date of birth|dob|age|gender|sex"),
    "vehicle": ("personal", "plate|license plate|vin"),
    "online_identifier": ("personal", "ip|ip address|imei|device id"),
}
HEADER_TOKENS: tuple[tuple[tuple[str, ...], str, str], ...] = tuple(
    (tuple(phrase.split()), pi, cat) for cat, (pi, phrases) in _EN.items() for phrase in phrases.split("|"))
EXACT_HEADERS = {"name": ("personal", "name")}  # "name" alone is a person; "product_name" is not
_CARD_HEADERS = ("银行卡", "卡号", "card")


# Health data in cells, under a header that says nothing (结果, remark): diagnoses are words no
# detector finds, so a column whose distinct values are mostly diagnosis-like is health data
# (GB/T 35273-2020 Annex B, 个人健康生理信息). Offline, curated: named conditions anywhere in a value,
# or a value of 3-12 characters ending like a diagnosis (…病, …症, …癌, …炎 …: not a two-character
# name such as 李炎); not the names of hospitals,
# companies or campaigns that carry such words (肿瘤医院, 病毒营销, 糖尿病防治指南).
_HEALTH_TERMS = (
    "癌|糖尿病|高血压|低血压|冠心病|心脏病|心肌梗|心衰|心律失常|脑梗|脑出血|卒中|中风|肿瘤|白血病|淋巴瘤|"
    "艾滋病|hiv|乙肝|丙肝|肝炎|肝硬化|结核|哮喘|慢阻肺|抑郁|焦虑症|双相|精神分裂|自闭症|孤独症|阿尔茨海默|"
    "帕金森|癫痫|痴呆|骨折|骨质疏松|尿毒症|肾衰|贫血|甲亢|甲减|痛风|梅毒|淋病|不孕|流产|妊娠|新冠|肺炎|"
    "感冒|流感|"
    "diabetes|hypertension|cancer|carcinoma|tumou?r|leukemia|hepatitis|asthma|depression|dementia|"
    "alzheimer|parkinson|epilep|fracture|covid")
_HEALTH_SUFFIX = r"^.{2,10}(?:病|症|癌|炎|瘤|感染|综合征|综合症|梗死|梗塞|衰竭|结石|囊肿|溃疡|中毒)$"
_NOT_HEALTH = ("医院|诊所|门诊|公司|集团|中心|研究|协会|学会|基金|药业|制药|大学|学院|杂志|指南|防治|宣传|营销|"
               "病毒式|日$|毛病|通病|语病|弊病")
HEALTH_SAMPLE = 500  # distinct values read: enough to judge a share of them, cheap on any table
HEALTH_SHARE = 0.5  # the share of them that must read as a diagnosis


def health_values(values: pa.Array | None) -> dict | None:
    """Content evidence that a text column holds health data: its first ``HEALTH_SAMPLE``
    distinct values (the quality profile keeps them); the exclusions are read only in the few
    values that matched, when they could still make the share."""
    if values is None or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    sample = pc.drop_null(values.slice(0, HEALTH_SAMPLE))
    # lower-cased once: a case-insensitive RE2 pattern costs 3x more on every value
    sample = pc.utf8_lower(pc.utf8_trim_whitespace(sample))
    need = max(1, HEALTH_SHARE * len(sample))
    # two patterns: one alternation of both, its anchored branch unanchored, reads 4x slower
    hits = sample.filter(pc.or_(pc.match_substring_regex(sample, _HEALTH_TERMS),
                                pc.match_substring_regex(sample, _HEALTH_SUFFIX)))
    if len(hits) < need:
        return None
    n = len(hits) - (pc.sum(pc.match_substring_regex(hits, _NOT_HEALTH)).as_py() or 0)
    if n < need:
        return None
    return {"source": "content", "match": "diagnosis terms", "values": n, "share": round(n / len(sample), 4),
            "pi": "sensitive", "category": "health", "basis": BASIS_SENSITIVE}


def classify_column(name: str, type_cells: dict[str, int], non_null: int | None = None,
                    values: pa.Array | None = None) -> dict:
    """``{"pi", "grade", "evidence", "categories"}`` for one column, given cells with findings per
    type; ``values``: the column's distinct values when known (the quality profile's), read for
    health terms."""
    evidence = []
    for t, n in sorted(type_cells.items()):
        pi, cat = TYPE_PI.get(t, ("personal", "other"))
        if n:
            evidence.append({"source": "content", "match": t, "cells": n, "pi": pi, "category": cat,
                             "basis": _basis(pi)})
    if health := health_values(values):
        evidence.append(health)
    evidence += [
        {"source": "header", "match": kw, "pi": pi, "category": cat, "basis": _basis(pi)}
        for kw, pi, cat in header_evidence(name)
    ]
    pi = max((e["pi"] for e in evidence), key=PI_LEVELS.index, default="none")
    categories = sorted({e["category"] for e in evidence if e["pi"] != "none"})
    return {"pi": pi, "grade": PI_GRADE[pi], "evidence": evidence, "categories": categories}


def header_evidence(name: str) -> list[tuple[str, str, str]]:
    """(keyword, pi, category) triples the column name matches."""
    upper = name.upper()
    hits = [(upper.find(kw.upper()), kw, pi, cat) for kw, pi, cat in HEADER_KEYWORDS if kw.upper() in upper]
    # The longer keyword decides: 卡号 inside 医保卡号 is a health insurance card, not a bank card.
    found = [(kw, pi, cat) for at, kw, pi, cat in hits
             if not any(c != cat and a <= at and at + len(kw) <= a + len(k) and len(k) > len(kw)
                        for a, k, _, c in hits)]
    tokens = _tokens(name)
    joined = "_".join(tokens)
    if joined in EXACT_HEADERS:
        found.append((joined, *EXACT_HEADERS[joined]))
    for phrase, pi, cat in HEADER_TOKENS:
        if _contains(tokens, phrase):
            found.append((" ".join(phrase), pi, cat))
    return found


# Headers of resident-ID columns (social and medical insurance card numbers are the holder's ID number)
_ID_HEADERS = ("身份证", "公民身份号码", "社保卡", "医保卡", "id_card", "idcard", "id_number", "resident_id")


def names_resident_id(name: str) -> bool:
    """The header declares resident IDs (breaks ID/card ties the other way, REFERENCE §2)."""
    lowered = name.lower()
    return any(k in lowered for k in _ID_HEADERS)


def names_card(name: str) -> bool:
    """The header declares a bank card (used to break ID/card ties, REFERENCE §2); a medical
    insurance card's number (医保卡号) is no bank card."""
    lowered = name.lower()
    return any(k in lowered for k in _CARD_HEADERS) and "医保" not in lowered


# GB/T 43697-2024 leaves core and important data to sector catalogues; what a scanner can say is
# when a table is a *candidate* for important data: sensitive personal information about many
# people. 100,000 people is the threshold of the automotive data rules (汽车数据安全管理若干规定,
# 2021, Art. 3), the most specific published one; an operator reviews the candidate.
IMPORTANT_CANDIDATE_ROWS = 100_000


def dataset_summary(columns: list[dict], rows: int) -> dict:
    grade = dataset_grade(columns)
    sensitive = [c["name"] for c in columns if c["pi"] == "sensitive"]
    return {
        "basis": "GB/T 43697-2024",
        "level": "general",
        "grade": grade,
        "sensitive_columns": sensitive,
        "personal_columns": [c["name"] for c in columns if c["pi"] == "personal"],
        "categories": sorted({cat for c in columns for cat in c.get("categories", [])}),
        "important_candidate": bool(sensitive) and rows >= IMPORTANT_CANDIDATE_ROWS,
    }


def dataset_grade(columns: list[dict]) -> str:
    """The highest column grade; a table without columns holds nothing above general-2."""
    return max((c["grade"] for c in columns), key=GRADES.index, default=PI_GRADE["none"])


def _basis(pi: str) -> str:
    return BASIS_SENSITIVE if pi == "sensitive" else BASIS_PERSONAL


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)  # camelCase -> camel Case
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def _contains(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(tokens[i:i + n]) == phrase for i in range(len(tokens) - n + 1))
