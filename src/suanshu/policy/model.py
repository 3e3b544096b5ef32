"""The policy a provider attaches to a component: which columns a buyer may use, and how.

Stable JSON shape (REFERENCE/issue 4)::

    {"mode": "aggregate", "table": "customers",
     "columns": {"city": "dimension", "age": "aggregate", "income": "aggregate", "id_no": "join", "name": "hidden"},
     "aggregates": ["count", "sum", "avg"], "min_group_size": 10,
     "dp": {"epsilon_per_query": 1.0, "epsilon_total": 3.0, "bounds": {"income": [0, 100000]}}}

Optional keys: ``entity`` (a column: group sizes count distinct entities, not rows),
``max_rows`` (extract mode's row cap), ``purpose`` (the purposes a contract may declare),
``expiry`` (UTC ISO-8601 time after which nothing runs), ``residency`` (regions where the
compute may run).

Column roles follow the AWS Clean Rooms aggregation rule and SecretFlow SCQL column control
(REFERENCE §4): a *dimension* may be grouped on, filtered against literals and output
(SCQL PLAINTEXT_AFTER_GROUP_BY); an *aggregate* column may only appear inside an allowed
aggregate (PLAINTEXT_AFTER_AGGREGATE); a *join* column may only appear in one equality join
with the buyer's own table, never output, filtered or grouped (PLAINTEXT_AS_JOIN_PAYLOAD; see
policy.sqlguard, "Joins"); a *hidden* column may not appear at all. Columns the policy does not list are hidden,
so forgetting a column fails closed. In ``extract`` mode, dimension and aggregate columns are
both released row by row (after the component's desensitization).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from types import MappingProxyType

from suanshu.core.errors import Refused, UsageError

MODES_IMPLEMENTED = ("aggregate", "dp", "extract", "job")
MODES_PLANNED: tuple[str, ...] = ()
ROLES = ("dimension", "aggregate", "join", "hidden")
# DP mode releases only aggregates whose sensitivity is bounded by the declared bounds.
DP_AGGREGATES = ("count", "sum", "avg")
DEFAULT_EXTRACT_MAX_ROWS = 1000
# ε is kept in integer nano-units so budgets add up exactly (0.1 + 0.2 != 0.3 in floats).
EPSILON_UNITS = 10**9
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
LARGEST = 10**9  # a group size or row cap beyond any table: larger is a typo, and no integer column holds it
_KEYS = {"mode", "table", "columns", "aggregates", "min_group_size", "dp", "entity", "max_rows",
         "purpose", "expiry", "residency", "job"}
_REQUIRED = {"aggregate": {"mode", "table", "columns", "min_group_size"},
             "dp": {"mode", "table", "columns", "min_group_size", "dp"},
             "extract": {"mode", "table", "columns"},
             "job": {"mode", "table", "columns", "job"}}
_MODE_ONLY = {"dp": {"dp"}, "max_rows": {"extract"}, "entity": {"aggregate", "dp"}, "job": {"job"}}

# Optional keys. min/max are left out by default: they release one individual's value.
_DEFAULTS = {"aggregates": ["count", "sum", "avg"]}


def epsilon_units(value: object, what: str) -> int:
    """ε as an exact integer count of nano-ε; refuses anything not positive and finite."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise _invalid(f"{what} must be a number in (0, 1e6), got {value!r}")
    units = Fraction(repr(value)) * EPSILON_UNITS  # repr: the decimal the provider wrote
    if units.denominator != 1:
        raise _invalid(f"{what} may have at most 9 decimals, got {value!r}")
    return int(units)


@dataclass(frozen=True)
class DPParams:
    epsilon_per_query: float
    epsilon_total: float
    bounds: Mapping[str, tuple[float, float]]  # folded column name -> (lower, upper)

    @property
    def per_query_units(self) -> int:
        return epsilon_units(self.epsilon_per_query, "epsilon_per_query")

    @property
    def total_units(self) -> int:
        return epsilon_units(self.epsilon_total, "epsilon_total")

    def to_dict(self, names: Mapping[str, str]) -> dict:
        return {"epsilon_per_query": self.epsilon_per_query, "epsilon_total": self.epsilon_total,
                "bounds": {names.get(c, c): list(b) for c, b in self.bounds.items()}}


def _invalid(reason: str) -> UsageError:
    return UsageError("policy.invalid", f"invalid policy: {reason}")


@dataclass(frozen=True)
class JobTerms:
    """Job mode (compute-to-data): a buyer's program runs next to the data; what it may ask for and release.

    ``{"max_cpu": 4, "max_memory_gb": 8, "max_hours": 1, "accelerators": {"ascend-910b": 1},
    "max_output_bytes": 1048576, "max_row_overlap": 0.05}``. The program sees the component's view
    (after desensitization); columns with role ``hidden`` (and unlisted ones) may be computed on but
    none of their values may appear in what it releases; no released table may repeat source rows
    beyond ``max_row_overlap`` (a share of its rows). The checks live in ``compute.outputs``.
    """

    max_cpu: int = 1
    max_memory_gb: int = 1
    max_hours: float = 1.0
    accelerators: Mapping[str, int] = field(default_factory=dict)
    max_output_bytes: int = 1 << 20
    max_row_overlap: float = 0.05

    @classmethod
    def parse(cls, d: object) -> JobTerms:
        known = {"max_cpu", "max_memory_gb", "max_hours", "accelerators", "max_output_bytes", "max_row_overlap"}
        if not isinstance(d, Mapping) or set(d) - known:
            raise _invalid(f"job must be an object with some of {sorted(known)}")
        ints = {k: d.get(k, getattr(cls, k)) for k in ("max_cpu", "max_memory_gb", "max_output_bytes")}
        accel = d.get("accelerators", {})
        if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= LARGEST**2 for v in ints.values()) or \
                not isinstance(accel, Mapping) or \
                not all(isinstance(t, str) and isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= LARGEST
                        for t, n in accel.items()):
            raise _invalid("job: max_cpu, max_memory_gb, max_output_bytes are integers >= 1; "
                           "accelerators is {type: count}")
        hours, overlap = d.get("max_hours", cls.max_hours), d.get("max_row_overlap", cls.max_row_overlap)
        for name, v, hi in (("max_hours", hours, 24 * 31), ("max_row_overlap", overlap, 1)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= hi:
                raise _invalid(f"job.{name} must be in (0, {hi}], got {v!r}")
        return cls(**ints, max_hours=hours, accelerators=MappingProxyType(dict(accel)), max_row_overlap=overlap)

    def to_dict(self) -> dict:
        return {"max_cpu": self.max_cpu, "max_memory_gb": self.max_memory_gb, "max_hours": self.max_hours,
                "accelerators": dict(self.accelerators), "max_output_bytes": self.max_output_bytes,
                "max_row_overlap": self.max_row_overlap}


@dataclass(frozen=True)
class Policy:
    mode: str
    table: str
    columns: Mapping[str, str]  # column name as the provider wrote it -> role
    aggregates: frozenset[str]
    min_group_size: int | None  # None in extract mode
    dp: DPParams | None = None
    entity: str | None = None
    max_rows: int | None = None  # extract mode
    purpose: tuple[str, ...] | None = None
    expiry: datetime | None = None
    residency: tuple[str, ...] | None = None
    job: JobTerms | None = None  # job mode
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

    def check_terms(self, *, purpose: str | None, region: str | None, at: datetime | None = None) -> None:
        """Refuse use outside the policy's purpose, after its expiry, or in a region it excludes."""
        self.check_expiry(at)
        self.check_purpose(purpose)
        self.check_residency(region)

    def check_expiry(self, at: datetime | None = None) -> None:
        if self.expiry is not None and (at or datetime.now(UTC)) >= self.expiry:
            raise Refused("policy.expired", f"the policy expired at {self.expiry.isoformat()}; "
                          "the provider must publish a new version")

    # Both checks fail closed: no purpose (or region) given while the policy names some refuses.
    def check_purpose(self, purpose: str | None) -> None:
        if self.purpose is not None and purpose not in self.purpose:
            raise Refused("policy.purpose_not_allowed",
                          f"purpose {purpose!r} is not one the policy allows: {list(self.purpose)}")

    def check_residency(self, region: str | None) -> None:
        if self.residency is not None and region not in self.residency:
            raise Refused("policy.residency_violation",
                          f"the compute would run in region {region!r}; the policy allows only {list(self.residency)}")

    @classmethod
    def from_dict(cls, d: object) -> Policy:
        if not isinstance(d, Mapping):
            raise _invalid("expected a JSON object")
        # Unknown keys are refused: a misspelt "min_group_szie" silently ignored would weaken
        # the policy the provider thinks it set.
        unknown = set(d) - _KEYS
        if unknown:
            raise _invalid(f"unknown keys {sorted(unknown)}; expected some of {sorted(_KEYS)}")

        mode = d.get("mode")
        if mode in MODES_PLANNED:
            raise UsageError(
                "policy.mode_unsupported",
                f"policy mode {mode!r} is planned but not implemented yet; "
                f"this version supports {list(MODES_IMPLEMENTED)}",
            )
        if mode not in MODES_IMPLEMENTED:
            raise _invalid(f"unknown mode {mode!r}; expected one of {list(MODES_IMPLEMENTED + MODES_PLANNED)}")
        missing = _REQUIRED[mode] - set(d)
        if missing:
            raise _invalid(f"missing keys {sorted(missing)}")
        for key, modes in _MODE_ONLY.items():
            if key in d and mode not in modes:
                raise _invalid(f"{key!r} does not apply to {mode} mode")

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
            if mode == "dp" and agg not in DP_AGGREGATES:
                raise _invalid(f"aggregate {agg!r} has no bounded sensitivity; dp mode allows {list(DP_AGGREGATES)}")

        k = d.get("min_group_size")
        # bool is an int in Python; `true` is not a group size.
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or not 2 <= k <= LARGEST):
            raise _invalid(f"min_group_size must be an integer from 2 to {LARGEST:,}, got {k!r}")

        entity = d.get("entity")
        if entity is not None and (not isinstance(entity, str) or fold(entity) not in seen):
            raise _invalid(f"entity must name a column listed in columns, got {entity!r}")
        if entity is not None and mode == "dp":
            # DP noise here assumes one row per entity; bounding an entity's rows is not built.
            raise _invalid("entity is not supported in dp mode yet (per-entity contribution bounding)")

        dp = _parse_dp(d["dp"], columns, seen) if mode == "dp" else None

        max_rows = d.get("max_rows", DEFAULT_EXTRACT_MAX_ROWS if mode == "extract" else None)
        if max_rows is not None and (not isinstance(max_rows, int) or isinstance(max_rows, bool)
                                     or not 1 <= max_rows <= LARGEST):
            raise _invalid(f"max_rows must be an integer from 1 to {LARGEST:,}, got {max_rows!r}")

        return cls(mode=mode, table=table, columns=columns, aggregates=frozenset(aggregates), min_group_size=k,
                   dp=dp, entity=seen[fold(entity)] if entity else None, max_rows=max_rows,
                   purpose=_strings(d, "purpose"), expiry=_expiry(d.get("expiry")),
                   residency=_strings(d, "residency"), job=JobTerms.parse(d["job"]) if mode == "job" else None)

    def to_dict(self) -> dict:
        out = {
            "mode": self.mode,
            "table": self.table,
            "columns": dict(self.columns),
            "aggregates": [a for a in AGGREGATES if a in self.aggregates],
        }
        if self.min_group_size is not None:
            out["min_group_size"] = self.min_group_size
        if self.dp is not None:
            out["dp"] = self.dp.to_dict({fold(c): c for c in self.columns})
        if self.entity is not None:
            out["entity"] = self.entity
        if self.max_rows is not None:
            out["max_rows"] = self.max_rows
        for key in ("purpose", "residency"):
            if getattr(self, key) is not None:
                out[key] = list(getattr(self, key))
        if self.job is not None:
            out["job"] = self.job.to_dict()
        if self.expiry is not None:
            out["expiry"] = self.expiry.isoformat().replace("+00:00", "Z")
        return out


def _parse_dp(dp: object, columns: Mapping[str, str], seen: dict[str, str]) -> DPParams:
    if not isinstance(dp, Mapping) or set(dp) != {"epsilon_per_query", "epsilon_total", "bounds"}:
        raise _invalid('dp must be {"epsilon_per_query": x, "epsilon_total": y, "bounds": {column: [lo, hi]}}')
    per_query = epsilon_units(dp["epsilon_per_query"], "dp.epsilon_per_query")
    if epsilon_units(dp["epsilon_total"], "dp.epsilon_total") < per_query:
        raise _invalid("dp.epsilon_total must be at least dp.epsilon_per_query")
    bounds = dp["bounds"]
    if not isinstance(bounds, Mapping):
        raise _invalid("dp.bounds must be an object {column: [lower, upper]}")
    parsed: dict[str, tuple[float, float]] = {}
    for name, pair in bounds.items():
        if not isinstance(name, str) or fold(name) not in seen or columns[seen[fold(name)]] != "aggregate":
            raise _invalid(f"dp.bounds names {name!r}, which is not an aggregate column of the policy")
        ok = (isinstance(pair, list | tuple) and len(pair) == 2
              and all(isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e15 for v in pair))
        if not ok or not pair[0] < pair[1]:
            raise _invalid(f"dp.bounds[{name!r}] must be [lower, upper] with lower < upper, |v| < 1e15")
        parsed[fold(name)] = (pair[0], pair[1])
    # every aggregate column needs bounds: SUM/AVG sensitivity comes from them
    unbounded = [c for c, r in columns.items() if r == "aggregate" and fold(c) not in parsed]
    if unbounded:
        raise _invalid(f"dp mode needs dp.bounds for every aggregate column; missing {unbounded}")
    return DPParams(epsilon_per_query=dp["epsilon_per_query"], epsilon_total=dp["epsilon_total"],
                    bounds=MappingProxyType(parsed))


def _strings(d: Mapping, key: str) -> tuple[str, ...] | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) and v for v in value):
        raise _invalid(f"{key} must be a non-empty list of strings")
    return tuple(value)


def _expiry(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise _invalid(f"expiry must be an ISO-8601 time with a zone (e.g. 2027-01-01T00:00:00Z), got {value!r}")
    return when.astimezone(UTC)
