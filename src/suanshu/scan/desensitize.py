"""Per-column desensitization (脱敏) rules, rendered as DuckDB SQL for data components.

Rules (one per column)::

    {"method": "mask", "keep_first": 3, "keep_last": 4, "char": "*"}   # 139****5678
    {"method": "hash"}                                                 # keyed HMAC-SHA256
    {"method": "generalize", "kind": "resident_id", "area_digits": 4}  # 110100-1949
    {"method": "generalize", "kind": "address"}                        # 北京市朝阳区
    {"method": "generalize", "kind": "age", "width": 10}               # 30-39
    {"method": "generalize", "kind": "coordinate", "decimals": 2}      # 39.90,116.41 (~1 km)
    {"method": "generalize", "kind": "date", "to": "year"}             # 1990 (or 1990-05)
    {"method": "drop"}                                                 # column removed

Generalization keeps what analysis needs and removes what identifies (GB/T 37964-2019, the
national guide to de-identification: generalisation, suppression, pseudonymisation). A value
that does not have the expected shape becomes NULL rather than passing through: a rule fails
closed, so a malformed ID cannot slip out in clear.

Masking keeps the length and hides everything if the value is not longer than
``keep_first + keep_last`` (otherwise a short value would be shown whole). Hashing is keyed
(HMAC, the exchange's secret): a plain hash of an 18-digit ID could be reversed by enumerating
area codes and birth dates, a keyed one cannot, yet equal inputs still join.
``apply`` is the Python reference implementation the SQL is tested against.
"""

from __future__ import annotations

import hmac
import re

import duckdb
import pyarrow as pa

from suanshu.core.errors import UsageError

HASH_HEX_CHARS = 32  # 128 bits of HMAC-SHA256: collision-free for any table, half the width
DEFAULTS = {
    "mask": {"keep_first": 3, "keep_last": 4, "char": "*"},
    "hash": {},
    "generalize": {"kind": None, "area_digits": 4, "width": 10, "decimals": 2, "to": "year"},
    "drop": {},
}
KINDS = ("resident_id", "address", "age", "coordinate", "date")
# Which parameters each generalization kind reads (the others are refused, to catch typos).
KIND_PARAMS = {"resident_id": {"area_digits"}, "address": set(), "age": {"width"},
               "coordinate": {"decimals"}, "date": {"to"}}



def _han_except(chars: str) -> str:
    """A character class of the Han characters U+4E00-9FFF but ``chars``, as plain ranges (RE2,
    which DuckDB runs, has no class subtraction) that Python's ``re`` reads the same way."""
    ranges, start = [], 0x4E00
    for cp in sorted({ord(c) for c in chars}):
        if start < cp:
            ranges.append(f"{chr(start)}-{chr(cp - 1)}" if cp - 1 > start else chr(start))
        start = cp + 1
    ranges.append(f"{chr(start)}-{chr(0x9FFF)}")
    return "[" + "".join(ranges) + "]"


# A character of a place name: Han, and none of the administrative suffixes (they end a level) nor
# the characters of a street, a building or a village group (路, 号, 栋, 村, 组 …): a place name
# never holds them, so a street and its number can never pass for a district (中山路123号市民中心).
_PLACE = _han_except("省市区县路街道巷弄号號栋棟幢座室村组組楼樓院")
# The administrative prefix of an address down to the county level (区/县/旗/county-level 市):
# province (省/自治区) and prefecture (市/州/地区/盟) are optional, the county part is required;
# anything else is no district (NULL: the rule fails closed).
ADDRESS_DISTRICT = (rf"^(?:{_PLACE}{{2,8}}?(?:省|自治区))?(?:{_PLACE}{{2,8}}?(?:市|自治州|地区|盟))?"
                    rf"{_PLACE}{{1,8}}?(?:区|县|旗|市)")


def validate_rules(rules: dict) -> dict:
    """``{column: rule}`` checked and completed with defaults; raises ``component.bad_desensitize_rule``."""
    if not isinstance(rules, dict):
        _bad("rules must be an object mapping column names to rules")
    return {column: validate_rule(rule, column) for column, rule in rules.items()}


def validate_rule(rule: dict, column: str = "?") -> dict:
    if not isinstance(rule, dict):
        _bad(f"rule for column {column!r} must be an object with a 'method'")
    method = rule.get("method")
    if method not in DEFAULTS:
        _bad(f"column {column!r}: unknown method {method!r}; use one of {', '.join(DEFAULTS)}")
    params = {k: v for k, v in rule.items() if k != "method"}
    unknown = sorted(set(params) - set(DEFAULTS[method]))
    if unknown:
        _bad(f"column {column!r}: method {method!r} takes no parameter(s) {', '.join(unknown)}")
    if method == "generalize":
        kind = params.get("kind")
        if kind not in KINDS:
            _bad(f"column {column!r}: generalize needs a kind, one of {', '.join(KINDS)}; not {kind!r}")
        extra = sorted(set(params) - {"kind"} - KIND_PARAMS[kind])
        if extra:
            _bad(f"column {column!r}: generalize kind {kind!r} takes no parameter(s) {', '.join(extra)}")
        out = {"method": method, "kind": kind,
               **{k: params.get(k, DEFAULTS["generalize"][k]) for k in sorted(KIND_PARAMS[kind])}}
        _check_generalize(out, column)
        return out
    out = {"method": method, **DEFAULTS[method], **params}
    if method == "mask":
        _check_mask(out, column)
    return out


def _check_generalize(rule: dict, column: str) -> None:
    bounds = {"area_digits": (2, 6), "width": (2, 100), "decimals": (0, 3)}
    for key, (lo, hi) in bounds.items():
        if key in rule:
            value = rule[key]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                _bad(f"column {column!r}: {key} must be a whole number from {lo} to {hi}, not {value!r}")
    # 3 decimals of a degree is ~110 m, the coarsest grid that is still useful for a city
    # analysis; 4 (11 m) is what the scanner calls a precise location.
    if "to" in rule and rule["to"] not in ("year", "month"):
        _bad(f"column {column!r}: to must be 'year' or 'month', not {rule['to']!r}")


def _check_mask(rule: dict, column: str) -> None:
    for key in ("keep_first", "keep_last"):
        value = rule[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _bad(f"column {column!r}: {key} must be a whole number >= 0, not {value!r}")
    char = rule["char"]
    # A letter or digit as the mask would make masked values look like data (and could even
    # form a new valid identifier), so the mask character must be a symbol.
    if not isinstance(char, str) or len(char) != 1 or char.isalnum() or not char.isprintable():
        _bad(f"column {column!r}: char must be one printable symbol such as '*', not {char!r}")


def _bad(message: str):
    raise UsageError("component.bad_desensitize_rule", message)


def column_sql(quoted_col: str, rule: dict) -> str | None:
    """A DuckDB expression for the desensitized column, or None when the column is dropped."""
    rule = validate_rule(rule)
    if rule["method"] == "drop":
        return None
    text = f"CAST({quoted_col} AS VARCHAR)"
    if rule["method"] == "hash":
        return f"ss_hmac({text})"
    if rule["method"] == "generalize":
        return _generalize_sql(quoted_col, text, rule)
    first, last = rule["keep_first"], rule["keep_last"]
    char = "'" + rule["char"].replace("'", "''") + "'"
    # length/left/right count characters (code points) in DuckDB, as Python's len and slices do.
    return (
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"WHEN length({text}) <= {first + last} THEN repeat({char}, length({text})) "
        f"ELSE left({text}, {first}) || repeat({char}, length({text}) - {first + last}) "
        f"|| right({text}, {last}) END"
    )


def _generalize_sql(col: str, text: str, rule: dict) -> str:
    kind = rule["kind"]
    if kind == "resident_id":
        a = rule["area_digits"]
        pad = "'" + "0" * (6 - a) + "'"
        t = f"trim({text})"
        return (f"CASE WHEN regexp_full_match({t}, '[0-9]{{17}}[0-9Xx]') "
                f"THEN left({t}, {a}) || {pad} || '-' || substr({t}, 7, 4) "
                f"WHEN regexp_full_match({t}, '[0-9]{{15}}') "
                f"THEN left({t}, {a}) || {pad} || '-19' || substr({t}, 7, 2) END")
    if kind == "address":
        return f"NULLIF(regexp_extract({text}, '{ADDRESS_DISTRICT}', 0), '')"
    if kind == "age":
        w = rule["width"]
        n = f"TRY_CAST({text} AS DOUBLE)"
        low = f"CAST(floor({n} / {w}) * {w} AS BIGINT)"
        return f"CASE WHEN {n} >= 0 AND {n} < 200 THEN {low} || '-' || ({low} + {w - 1}) END"
    if kind == "coordinate":
        d = rule["decimals"]
        one = f"TRY_CAST({text} AS DOUBLE)"
        num = r"(-?[0-9]{1,3}(?:\.[0-9]+)?)"
        pair = f"regexp_extract({text}, '^\\s*{num}\\s*[,;/ ]\\s*{num}\\s*$', [ 'a', 'b' ])"
        return (f"CASE WHEN {one} IS NOT NULL THEN printf('%.{d}f', round({one}, {d})) "
                f"WHEN {pair}.a <> '' THEN printf('%.{d}f,%.{d}f', round(CAST({pair}.a AS DOUBLE), {d}), "
                f"round(CAST({pair}.b AS DOUBLE), {d})) END")
    # date: the year (or year-month) of anything that starts with a date
    m = r"^\s*([0-9]{4})[-/.年]([0-9]{1,2})"
    year = f"regexp_extract({text}, '{m}', 1)"
    if rule["to"] == "year":
        return f"NULLIF({year}, '')"
    month = f"regexp_extract({text}, '{m}', 2)"
    return f"CASE WHEN {year} <> '' THEN {year} || '-' || lpad({month}, 2, '0') END"


def hmac_hex(key: bytes, text: str) -> str:
    """HMAC-SHA256 of the UTF-8 text, first 32 hex characters."""
    return hmac.digest(key, text.encode("utf-8"), "sha256").hex()[:HASH_HEX_CHARS]


def register_udfs(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Register ``ss_hmac(VARCHAR) -> VARCHAR`` on ``con``, keyed with ``key`` (replaces any
    earlier registration). DuckDB passes whole Arrow vectors and keeps NULL as NULL."""
    if not isinstance(key, bytes) or not key:
        raise ValueError("the HMAC key must be non-empty bytes")

    def ss_hmac(values: pa.Array | pa.ChunkedArray) -> pa.Array:
        return pa.array(
            [None if v is None else hmac_hex(key, v) for v in values.to_pylist()], pa.string())

    try:
        con.remove_function("ss_hmac")
    except (duckdb.Error, ValueError):
        pass  # not registered yet
    con.create_function("ss_hmac", ss_hmac, ["VARCHAR"], "VARCHAR", type="arrow",
                        side_effects=False)


def apply(value, rule: dict, key: bytes) -> str | None:
    """Python reference of ``column_sql`` for one value; ``drop`` yields None (no column)."""
    rule = validate_rule(rule)
    if value is None or rule["method"] == "drop":
        return None
    text = str(value)
    if rule["method"] == "hash":
        return hmac_hex(key, text)
    if rule["method"] == "generalize":
        return _generalize(text, rule)
    first, last, char = rule["keep_first"], rule["keep_last"], rule["char"]
    if len(text) <= first + last:
        return char * len(text)
    return text[:first] + char * (len(text) - first - last) + text[len(text) - last:]


def _generalize(text: str, rule: dict) -> str | None:
    """Python reference of ``_generalize_sql``."""
    kind = rule["kind"]
    if kind == "resident_id":
        t, a = text.strip(), rule["area_digits"]
        if re.fullmatch(r"[0-9]{17}[0-9Xx]", t):
            return t[:a] + "0" * (6 - a) + "-" + t[6:10]
        if re.fullmatch(r"[0-9]{15}", t):
            return t[:a] + "0" * (6 - a) + "-19" + t[6:8]
        return None
    if kind == "address":
        m = re.search(ADDRESS_DISTRICT, text)
        return m.group() if m and m.group() else None
    if kind == "age":
        try:
            n = float(text)
        except ValueError:
            return None
        if not 0 <= n < 200:
            return None
        low = int(n // rule["width"]) * rule["width"]
        return f"{low}-{low + rule['width'] - 1}"
    if kind == "coordinate":
        d = rule["decimals"]
        try:
            return f"{round(float(text), d):.{d}f}"
        except ValueError:
            pass
        m = re.fullmatch(r"\s*(-?[0-9]{1,3}(?:\.[0-9]+)?)\s*[,;/ ]\s*(-?[0-9]{1,3}(?:\.[0-9]+)?)\s*", text)
        return f"{round(float(m[1]), d):.{d}f},{round(float(m[2]), d):.{d}f}" if m else None
    m = re.match(r"\s*([0-9]{4})[-/.年]([0-9]{1,2})", text)
    if not m:
        return None
    return m[1] if rule["to"] == "year" else f"{m[1]}-{int(m[2]):02d}"
