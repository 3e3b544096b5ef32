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

PI_LEVELS = ("none", "personal", "sensitive")
PI_GRADE = {"none": "general-2", "personal": "general-3", "sensitive": "general-4"}
GRADES = ("general-1", "general-2", "general-3", "general-4")

BASIS_SENSITIVE = "PIPL Art. 28; GB/T 35273-2020 Annex B"
BASIS_PERSONAL = "PIPL Art. 4"

# What a finding of each type says about its column.
TYPE_PI = {
    "CN_RESIDENT_ID": "sensitive",  # identity document
    "BANK_CARD": "sensitive",  # financial account
    "CN_MOBILE": "personal",
    "EMAIL": "personal",
}

# Header keywords, matched as substrings of the (Chinese) column name. Order: sensitive first.
HEADER_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("身份证", "sensitive"), ("证件号", "sensitive"), ("银行卡", "sensitive"), ("卡号", "sensitive"),
    ("诊断", "sensitive"), ("病", "sensitive"), ("宗教", "sensitive"), ("指纹", "sensitive"),
    ("基因", "sensitive"),
    ("姓名", "personal"), ("手机", "personal"), ("电话", "personal"), ("邮箱", "personal"),
    ("地址", "personal"), ("住址", "personal"),
)

# English headers are matched on whole tokens (id_card, IdCard, "e-mail"), so that e.g.
# product_name or address_count do not trip a rule meant for a person's name.
HEADER_TOKENS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("id", "card"), "sensitive"), (("idcard",), "sensitive"), (("id", "no"), "sensitive"),
    (("id", "number"), "sensitive"), (("passport",), "sensitive"), (("bank", "card"), "sensitive"),
    (("card", "no"), "sensitive"), (("card", "number"), "sensitive"),
    (("diagnosis",), "sensitive"), (("disease",), "sensitive"), (("religion",), "sensitive"),
    (("fingerprint",), "sensitive"), (("gene",), "sensitive"), (("genome",), "sensitive"),
    (("full", "name"), "personal"), (("real", "name"), "personal"),
    (("first", "name"), "personal"), (("last", "name"), "personal"),
    (("phone",), "personal"), (("mobile",), "personal"), (("tel",), "personal"),
    (("telephone",), "personal"), (("email",), "personal"), (("e", "mail"), "personal"),
    (("address",), "personal"),
)
EXACT_HEADERS = {"name": "personal"}  # "name" alone is a person's name; "product_name" is not


def classify_column(name: str, type_cells: dict[str, int]) -> dict:
    """``{"pi", "grade", "evidence"}`` for one column, given cells with findings per type."""
    evidence = [
        {"source": "content", "match": t, "cells": n, "pi": TYPE_PI.get(t, "personal"),
         "basis": _basis(TYPE_PI.get(t, "personal"))}
        for t, n in sorted(type_cells.items()) if n
    ]
    evidence += [
        {"source": "header", "match": kw, "pi": pi, "basis": _basis(pi)}
        for kw, pi in header_evidence(name)
    ]
    pi = max((e["pi"] for e in evidence), key=PI_LEVELS.index, default="none")
    return {"pi": pi, "grade": PI_GRADE[pi], "evidence": evidence}


def header_evidence(name: str) -> list[tuple[str, str]]:
    """(keyword, pi) pairs the column name matches."""
    found = [(kw, pi) for kw, pi in HEADER_KEYWORDS if kw in name]
    tokens = _tokens(name)
    joined = "_".join(tokens)
    if joined in EXACT_HEADERS:
        found.append((joined, EXACT_HEADERS[joined]))
    for phrase, pi in HEADER_TOKENS:
        if _contains(tokens, phrase):
            found.append((" ".join(phrase), pi))
    return found


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
