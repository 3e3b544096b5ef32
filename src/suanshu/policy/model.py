"""The policy a provider attaches to a component: which columns a buyer may use, and how.

Stable JSON shape (aggregate mode)::

    {"mode": "aggregate", "table": "customers",
     "columns": {"city": "dimension", "age": "aggregate", "income": "aggregate", "name": "hidden"},
     "aggregates": ["count", "sum", "avg"], "min_group_size": 10}

Column roles follow the AWS Clean Rooms aggregation rule and SecretFlow SCQL column control
(REFERENCE §4): a *dimension* may be grouped on, filtered against literals and output
(SCQL PLAINTEXT_AFTER_GROUP_BY); an *aggregate* column may only appear inside an allowed
aggregate (PLAINTEXT_AFTER_AGGREGATE); a *hidden* column may not appear at all. Columns the
policy does not list are hidden, so forgetting a column fails closed.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from suanshu.core.errors import UsageError

MODES_IMPLEMENTED = ("aggregate",)
MODES_PLANNED = ("dp", "extract", "job")  # known to the design (DESIGN §3), not built yet
ROLES = ("dimension", "aggregate", "hidden")
# Canonical order, also used by to_dict() so the serialised form is stable.
AGGREGATES = ("count", "sum", "avg", "min", "max", "count_distinct")

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold(identifier: str) -> str:
    """Identifier case folding as DuckDB does it: ASCII letters only.

    str.lower() would be wrong in a way that matters: it maps the Kelvin sign to "k", so a
    hidden column named with it would match a dimension called "kelvin" here but not in DuckDB.
    """
    return identifier.translate(_ASCII_LOWER)


_SIMPLE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_KEYS = {"mode", "table", "columns", "aggregates", "min_group_size"}


# Optional keys. min/max are left out by default: they release one individual's value.
_DEFAULTS = {"aggregates": ["count", "sum", "avg"]}


def _invalid(reason: str) -> UsageError:
    return UsageError("policy.invalid", f"invalid policy: {reason}")


@dataclass(frozen=True)
class Policy:
    mode: str
    table: str
    columns: Mapping[str, str]  # column name as the provider wrote it -> role
    aggregates: frozenset[str]
    min_group_size: int
    # folded name -> role; identifiers match case-insensitively, as in DuckDB
    _roles: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        object.__setattr__(self, "aggregates", frozenset(self.aggregates))
        roles = {fold(name): role for name, role in self.columns.items()}
        object.__setattr__(self, "_roles", MappingProxyType(roles))

    def role(self, column: str) -> str:
        """The role of a column (any letter case); unlisted columns are hidden."""
        return self._roles.get(fold(column), "hidden")

    def is_listed(self, column: str) -> bool:
        return fold(column) in self._roles

    def columns_with_role(self, role: str) -> list[str]:
        return [name for name, r in self.columns.items() if r == role]

    @classmethod
    def from_dict(cls, d: object) -> Policy:
        if not isinstance(d, Mapping):
            raise _invalid("expected a JSON object")
        # Unknown keys are refused: a misspelt "min_group_szie" silently ignored would weaken
        # the policy the provider thinks it set.
        unknown = set(d) - _KEYS
        if unknown:
            raise _invalid(f"unknown keys {sorted(unknown)}; expected {sorted(_KEYS)}")
        missing = _KEYS - set(d) - set(_DEFAULTS)
        if missing:
            raise _invalid(f"missing keys {sorted(missing)}")

        mode = d["mode"]
        if mode in MODES_PLANNED:
            raise UsageError(
                "policy.mode_unsupported",
                f"policy mode {mode!r} is planned but not implemented yet; "
                f"this version supports {list(MODES_IMPLEMENTED)}",
            )
        if mode not in MODES_IMPLEMENTED:
            raise _invalid(f"unknown mode {mode!r}; expected one of {list(MODES_IMPLEMENTED + MODES_PLANNED)}")

        table = d["table"]
        if not isinstance(table, str) or not _SIMPLE_IDENTIFIER.fullmatch(table):
            raise _invalid(f"table must be a simple identifier ([A-Za-z_][A-Za-z0-9_]*), got {table!r}")

        columns = d["columns"]
        if not isinstance(columns, Mapping) or not columns:
            raise _invalid("columns must be a non-empty object {name: role}")
        seen: dict[str, str] = {}
        for name, role in columns.items():
            if not isinstance(name, str) or not name.strip() or len(name) > 255:
                raise _invalid(f"bad column name {name!r}")
            if any(ord(ch) < 32 for ch in name):
                raise _invalid(f"column name {name!r} contains control characters")
            if role not in ROLES:
                raise _invalid(f"column {name!r} has unknown role {role!r}; expected one of {list(ROLES)}")
            if fold(name) in seen:
                raise _invalid(f"columns {seen[fold(name)]!r} and {name!r} differ only in letter case")
            seen[fold(name)] = name

        aggregates = d.get("aggregates", _DEFAULTS["aggregates"])
        if not isinstance(aggregates, list | tuple) or not aggregates:
            raise _invalid(f"aggregates must be a non-empty list drawn from {list(AGGREGATES)}")
        for agg in aggregates:
            if agg not in AGGREGATES:
                raise _invalid(f"unknown aggregate {agg!r}; expected some of {list(AGGREGATES)}")

        k = d["min_group_size"]
        # bool is an int in Python; `true` is not a group size.
        if not isinstance(k, int) or isinstance(k, bool) or k < 2:
            raise _invalid(f"min_group_size must be an integer >= 2, got {k!r}")

        return cls(mode=mode, table=table, columns=columns, aggregates=frozenset(aggregates), min_group_size=k)

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "table": self.table,
            "columns": dict(self.columns),
            "aggregates": [a for a in AGGREGATES if a in self.aggregates],
            "min_group_size": self.min_group_size,
        }
