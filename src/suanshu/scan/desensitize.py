"""Per-column desensitization (脱敏) rules, rendered as DuckDB SQL for data components.

Rules (one per column)::

    {"method": "mask", "keep_first": 3, "keep_last": 4, "char": "*"}   # 139****5678
    {"method": "hash"}                                                 # keyed HMAC-SHA256
    {"method": "drop"}                                                 # column removed

Masking keeps the length and hides everything if the value is not longer than
``keep_first + keep_last`` (otherwise a short value would be shown whole). Hashing is keyed
(HMAC, the exchange's secret): a plain hash of an 18-digit ID could be reversed by enumerating
area codes and birth dates, a keyed one cannot, yet equal inputs still join.
``apply`` is the Python reference implementation the SQL is tested against.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pyarrow as pa

from suanshu.core.errors import UsageError

HASH_HEX_CHARS = 32  # 128 bits of HMAC-SHA256: collision-free for any table, half the width
DEFAULTS = {
    "mask": {"keep_first": 3, "keep_last": 4, "char": "*"},
    "hash": {},
    "drop": {},
}


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
    out = {"method": method, **DEFAULTS[method], **params}
    if method == "mask":
        _check_mask(out, column)
    return out


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
    first, last = rule["keep_first"], rule["keep_last"]
    char = "'" + rule["char"].replace("'", "''") + "'"
    # length/left/right count characters (code points) in DuckDB, as Python's len and slices do.
    return (
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"WHEN length({text}) <= {first + last} THEN repeat({char}, length({text})) "
        f"ELSE left({text}, {first}) || repeat({char}, length({text}) - {first + last}) "
        f"|| right({text}, {last}) END"
    )


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
    first, last, char = rule["keep_first"], rule["keep_last"], rule["char"]
    if len(text) <= first + last:
        return char * len(text)
    return text[:first] + char * (len(text) - first - last) + text[len(text) - last:]
