"""The SQL guard: refuse any buyer query that is not provably safe under a policy, then rewrite it.

The guard works on sqlglot's syntax tree (DuckDB dialect) and is an allow-list throughout:
every node type, function, clause and column reference must be recognised as safe, so syntax
the guard does not know is refused rather than passed through. The SQL that runs is re-rendered
from the very tree that was checked (never the buyer's text), so what was judged is what runs.

Refusal codes (stable; scripts depend on them). When a query breaks several rules, the code
reported is the first in this table (TigerBeetle-style fixed precedence), so a given query
always gets the same answer:

=============================== ==========================================================
code                            meaning
=============================== ==========================================================
query.parse_error               the text is not SQL sqlglot can parse, or is too long
                                (raised as UsageError; every other code is Refused)
query.not_single_select         zero or several statements, or not a SELECT (INSERT, PRAGMA,
                                SET, ATTACH, COPY, INSTALL, LOAD, CREATE, DESCRIBE, ...)
query.cte                       WITH ... (common table expressions)
query.set_operation             UNION / INTERSECT / EXCEPT
query.subquery                  a SELECT nested anywhere (FROM, WHERE, SELECT list, ...)
query.join                      JOIN, comma joins, LATERAL; the one join allowed is
                                ``JOIN own ON t.key = own.col`` with the buyer's own table
                                (see Joins below), in aggregate and dp modes
query.unknown_table             FROM anything but the policy table, unqualified: other
                                tables, schema/catalog qualifiers (vault.x), table functions
                                (read_csv, read_parquet, glob, ...), file paths ('x.csv'),
                                or no FROM at all
query.qualify                   QUALIFY
query.window                    window functions (OVER, WINDOW)
query.grouping_sets             ROLLUP, CUBE, GROUPING SETS, GROUP BY ALL
query.star                      SELECT *, t.*, * EXCLUDE, COLUMNS(...); COUNT(*) is fine
query.function_not_allowed      a function outside the allow-list (scalar or aggregate)
query.construct_not_allowed     any other syntax outside the allow-list: DISTINCT, FILTER,
                                TABLESAMPLE, column-renaming table aliases, placeholders,
                                LIMIT that is not a literal, GROUP BY keys that are not
                                dimension expressions, ...
query.column_not_allowed        a hidden or unlisted column anywhere; an aggregate column
                                outside an aggregate; a dimension inside an aggregate other
                                than COUNT / COUNT(DISTINCT); a reserved output name
query.aggregate_not_allowed     an aggregate the policy does not allow, or an aggregate whose
                                argument is not a single column (or * for COUNT)
query.predicate_not_allowed     WHERE conditions other than "one dimension compared with
                                literals" (e.g. city = region), aggregates in WHERE, or
                                HAVING conditions on aggregates that could raise an error
                                (anything but comparisons of aggregates, their quotients
                                and literals; MIN/MAX only against string literals)
query.not_aggregated            the query does not aggregate: a plain row listing, or an
                                output expression that is neither grouped nor aggregated
                                (aggregate and dp modes)
query.dp_not_allowed            dp mode: an output that is not a group key or a bare
                                COUNT/SUM/AVG (noise is added per aggregate), or an aggregate
                                in HAVING or ORDER BY (it would filter or rank on true values)
=============================== ==========================================================

Modes. ``aggregate``: the rules above. ``dp``: the same, plus query.dp_not_allowed; the
rewrite clamps every SUM/AVG argument to the policy's bounds and quantises it to a power-of-two
grid inside the SQL, and returns the raw measurements (``__suanshu_m<i>``) that
``policy.dp`` turns into noisy answers. ``extract``: rows of dimension and aggregate columns,
filtered against literals (WHERE as above) and ordered; no aggregates, GROUP BY, HAVING or
OFFSET (query.aggregate_not_allowed / query.construct_not_allowed); LIMIT becomes at most the
policy's ``max_rows`` (+1, so the engine can tell that it cut).

Rewrite (aggregate and dp modes): the guard appends ``COUNT(*) AS __suanshu_group_rows``
(``COUNT(DISTINCT entity)`` when the policy names an entity column) to the SELECT
list and ANDs ``COUNT(*) >= min_group_size`` into HAVING, so groups smaller than the policy's
minimum are dropped inside the database and never leave it. Unaliased output expressions get
an explicit alias (their normalised SQL) so output column names are predictable. Output
aliases used in GROUP BY / HAVING are replaced by the expressions they name, and everything
DuckDB evaluates before the threshold applies (WHERE, GROUP BY expressions that could raise,
HAVING conditions on group keys) is wrapped in ``TRY(...)``: a runtime error that fires only for one row or one
small group would otherwise answer a yes/no question about it.

Joins (the ``join`` role). A buyer who brings their own table (``guard(..., own=[OwnTable])``;
``suanshu analyze --own NAME=FILE``) may write exactly one ``[INNER] JOIN own [AS o] ON
t.key = own.col``: ``t.key`` a column whose role is ``join``, ``own.col`` a column of their
table; no other join kind, no USING, no second condition. Join keys appear nowhere else (never
output, filtered, grouped or ordered). Columns of the buyer's table count as dimensions. Every
column reference in a join query must be qualified (an unqualified name could bind to an
unlisted column of either table), and the two tables' names and aliases must differ. The group
threshold still counts the provider's rows: the engine refuses an own table whose key column
repeats a value (``query.own_keys_not_unique``), so each source row joins at most one own row
and COUNT(*) over the join counts source rows. Extract mode refuses joins (a join would link
released rows to the buyer's identities).

Column references are resolved here rather than with sqlglot's optimizer.qualify: there is one
table and one scope, and what matters is how *DuckDB* binds a name (alias or column, which
clause, ASCII-only case folding), which these rules follow and the tests pin down.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from suanshu.core.errors import Refused, UsageError
from suanshu.policy import dp as dpmath
from suanshu.policy.model import Policy, fold

DIALECT = "duckdb"
GROUP_ROWS = "__suanshu_group_rows"
RESERVED_PREFIX = "__suanshu"
MAX_SQL_CHARS = 20_000  # deeper or longer input only serves to stress the parser

PRECEDENCE = (
    "query.not_single_select",
    "query.cte",
    "query.set_operation",
    "query.subquery",
    "query.join",
    "query.unknown_table",
    "query.qualify",
    "query.window",
    "query.grouping_sets",
    "query.star",
    "query.function_not_allowed",
    "query.construct_not_allowed",
    "query.column_not_allowed",
    "query.aggregate_not_allowed",
    "query.predicate_not_allowed",
    "query.not_aggregated",
    "query.dp_not_allowed",
)

# Scalar functions a buyer may use: small, deterministic, no I/O. Anything else (random, now,
# getenv, read_*, regexp, list/struct builders, ...) is refused.
SCALAR_FUNCTIONS: tuple[type[exp.Func], ...] = (
    exp.Lower, exp.Upper, exp.Substring, exp.Length, exp.Trim,
    exp.Round, exp.Floor, exp.Ceil, exp.Abs,
    exp.Coalesce, exp.Cast, exp.TryCast, exp.Case, exp.If,
    exp.Extract, exp.Year, exp.Month, exp.Day, exp.TimeToStr,  # TimeToStr is strftime
)  # fmt: skip
# Functions sqlglot does not model get parsed as Anonymous; these names are allowed.
ANONYMOUS_FUNCTIONS = frozenset({"date_part"})
AGGREGATE_FUNCTIONS: dict[type[exp.AggFunc], str] = {
    exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max",
}  # fmt: skip
# Non-function syntax that may appear; position rules for some of these follow below.
ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Select, exp.From, exp.Table, exp.TableAlias, exp.Identifier, exp.Column, exp.Alias,
    exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset,
    exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Neg, exp.Not, exp.And, exp.Or,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between,
    exp.Like, exp.ILike, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod,
    exp.DataType, exp.DataTypeParam, exp.Var, exp.Star, exp.Distinct,
)  # fmt: skip
# Exact types, not isinstance: sqlglot subclasses allowed nodes (Column <- Pseudocolumn,
# Cast <- JSONCast, Order <- Sort), and a subclass is different syntax that was never reviewed.
_ALLOWED_NODE_TYPES = frozenset(ALLOWED_NODES)
_ALLOWED_FUNCTION_TYPES = frozenset(SCALAR_FUNCTIONS) | frozenset(AGGREGATE_FUNCTIONS)
_CLAUSE_ARGS = ("expressions", "from_", "from", "where", "group", "having", "order", "limit", "offset")
_SELECT_ARG_CODES = {"with_": "query.cte", "with": "query.cte", "joins": "query.join",
                     "laterals": "query.join", "qualify": "query.qualify", "windows": "query.window"}  # fmt: skip

# Provider SQL (check_projection) may use any function except those that reach files, the
# network, other databases or the engine's own configuration.
_IO_FUNCTION = re.compile(
    r"(read_\w+|\w+_scan|glob|getenv|sniff_csv|parquet_\w+|query|query_table|sqlite_\w+|"
    r"postgres_\w+|mysql_\w+|iceberg_\w+|delta_\w+|duckdb_\w+|current_setting|load_\w+|"
    r"install_\w+|http_\w+|s3_\w+)"
)


@dataclass(frozen=True)
class OwnTable:
    """A table the buyer brings to join with (their own data: its columns count as dimensions)."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class JoinKey:
    """The one equality join of a query: source column (role ``join``) = own table column."""

    source_column: str
    own_table: str
    own_column: str


@dataclass(frozen=True)
class GuardedQuery:
    sql: str  # the rewritten query, DuckDB dialect: the only SQL that should run
    original_sql: str
    sha256: str  # of the normalised original (sqlglot-rendered: whitespace/case/comments don't matter)
    output_columns: tuple[str, ...]  # the buyer's output columns, without GROUP_ROWS
    mode: str = "aggregate"
    result_columns: tuple[str, ...] = ()  # the columns the rewritten SQL returns
    dp_outputs: tuple[dpmath.Output, ...] = ()  # dp mode: how each output comes from measurements
    join: JoinKey | None = None  # the join with the buyer's own table, if any


class _Findings:
    """Collects violations and reports the one with the highest precedence."""

    def __init__(self) -> None:
        self._items: list[tuple[int, str, str]] = []

    def add(self, code: str, reason: str) -> None:
        self._items.append((PRECEDENCE.index(code), code, reason))

    def raise_first(self) -> None:
        if self._items:
            _, code, reason = min(self._items, key=lambda item: item[0])
            raise Refused(code, reason)


# ---------------------------------------------------------------------------------------------
# Parsing and the statement shape


def _parse_one(sql: str) -> exp.Expression:
    if not isinstance(sql, str):
        raise UsageError("query.parse_error", "the query must be SQL text")
    if len(sql) > MAX_SQL_CHARS:
        raise UsageError("query.parse_error", f"the query is longer than {MAX_SQL_CHARS} characters")
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except (SqlglotError, RecursionError) as e:
        first_line = (str(e).splitlines() or ["nesting too deep"])[0]
        raise UsageError("query.parse_error", f"could not parse the query: {first_line}") from None
    if len(statements) != 1:
        raise Refused("query.not_single_select", f"expected exactly one statement, got {len(statements)}")
    if isinstance(statements[0], exp.Condition | exp.Alias | exp.Identifier | exp.Star):
        # sqlglot reads a bare expression as a statement ("SELEC city": column SELEC aliased city)
        raise UsageError("query.parse_error", f"not a SQL statement: {sql.strip()[:40]!r}; a query starts with SELECT")
    return statements[0]


def _statement_kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return node.key.upper()


def _from_table(select: exp.Select) -> exp.Expression | None:
    from_ = select.args.get("from_") or select.args.get("from")
    return from_.this if from_ is not None else None


def _function_name(node: exp.Func) -> str:
    return node.name if isinstance(node, exp.Anonymous) else node.sql_name()


def _norm(node: exp.Expression) -> str:
    """Canonical text of an expression, for matching SELECT expressions to GROUP BY keys.

    One table: qualifiers are dropped (city and t.city are the same key). In a join query every
    reference is qualified and the qualifier tells the tables apart, so it is kept."""
    joined = bool(node.root().args.get("joins"))
    node = node.unnest()
    # Columns are renamed in place and restored, rather than rendering a copy: copying the
    # subtree was a third of the guard's time.
    saved = [(col, col.args.get("table"), col.args.get("this")) for col in node.find_all(exp.Column)]
    try:
        for col, table, name in saved:
            col.args["table"] = exp.to_identifier(fold(table.name)) if joined and table is not None else None
            col.args["this"] = exp.Identifier(this=fold(name.name), quoted=False)
        return node.sql(dialect=DIALECT, comments=False)
    finally:
        for col, table, name in saved:
            col.args["table"], col.args["this"] = table, name


def _int_literal(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


# ---------------------------------------------------------------------------------------------
# Structural rules: the same for every mode that takes buyer SQL


def _check_structure(select: exp.Select, policy: Policy, f: _Findings) -> exp.Table | None:
    """Clause, table, node and function allow-lists. Returns the FROM table if it is valid.
    The query's own JOIN clauses (and the tables they name) are judged by ``_check_join``; their
    ON conditions are walked here like every other expression."""
    joins = select.args.get("joins") or []
    joined_tables = [j.this for j in joins]
    for key, value in select.args.items():
        if key == "joins":
            continue
        if value and key not in _CLAUSE_ARGS:
            f.add(_SELECT_ARG_CODES.get(key, "query.construct_not_allowed"),
                  f"{key.rstrip('_').upper()} is not allowed in a governed query")  # fmt: skip

    table = _from_table(select)
    if table is None:
        f.add("query.unknown_table", f"the query must read FROM {policy.table}")
    elif not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        f.add("query.unknown_table", f"FROM must name the table {policy.table}; table functions, "
              "file paths and derived tables are not allowed")  # fmt: skip
        table = None
    elif table.args.get("db") or table.args.get("catalog"):
        f.add("query.unknown_table", f"write FROM {policy.table} without a schema or catalog")
        table = None
    elif fold(table.name) != fold(policy.table):
        f.add("query.unknown_table", f"unknown table {table.name!r}; this policy covers {policy.table!r}")
        table = None
    else:
        for key, value in table.args.items():
            if value and key not in ("this", "alias"):
                f.add(_SELECT_ARG_CODES.get(key, "query.construct_not_allowed"),
                      f"{key.upper()} on the table is not allowed")  # fmt: skip
        alias = table.args.get("alias")
        if alias is not None and alias.args.get("columns"):
            # FROM t AS x(a, b) renames columns by position: it would let a hidden column
            # masquerade under an allowed name.
            f.add("query.construct_not_allowed", "table aliases may not rename columns")

    for node in select.walk():
        if node is not select and isinstance(node, exp.Query | exp.Subquery | exp.Exists):
            f.add("query.subquery", "subqueries are not allowed")
        elif any(node is j for j in joins) or any(node is t for t in joined_tables):
            continue  # judged by _check_join
        elif isinstance(node, exp.Join | exp.Lateral):
            f.add("query.join", "joins are not allowed here: the only join is JOIN <your table> ON "
                  f"{policy.table}.<join column> = <your table>.<column>, with your own table supplied")
        elif isinstance(node, exp.Table) and node is not _from_table(select):
            f.add("query.unknown_table", "only the policy table may be read, once, in FROM")
        elif isinstance(node, exp.Qualify):
            f.add("query.qualify", "QUALIFY is not allowed")
        elif isinstance(node, exp.Window | exp.WindowSpec):
            f.add("query.window", "window functions are not allowed")
        elif isinstance(node, exp.Rollup | exp.Cube | exp.GroupingSets) or (
            isinstance(node, exp.Group)
            and any(node.args.get(k) for k in ("all", "grouping_sets", "cube", "rollup", "totals"))
        ):
            f.add("query.grouping_sets", "ROLLUP, CUBE, GROUPING SETS and GROUP BY ALL are not allowed")
        elif isinstance(node, exp.Columns) or (
            isinstance(node, exp.Star) and not (isinstance(node.parent, exp.Count) and node.arg_key == "this")
        ):
            f.add("query.star", "select columns by name; * is only allowed as COUNT(*)")
        elif type(node) in _ALLOWED_NODE_TYPES:
            reason = _misplaced(node, select)
            if reason:
                f.add("query.construct_not_allowed", reason)
        elif isinstance(node, exp.Func):
            allowed = type(node) in _ALLOWED_FUNCTION_TYPES or (
                type(node) is exp.Anonymous and fold(node.name) in ANONYMOUS_FUNCTIONS
            )
            if not allowed:
                f.add("query.function_not_allowed", f"function {_function_name(node)} is not allowed")
        else:
            f.add("query.construct_not_allowed", f"{node.key.upper()} is not allowed")
    return table


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return exp.to_identifier(name, quoted=True).sql(dialect=DIALECT)


def _qualifiers(table: exp.Table) -> set[str]:
    return {fold(table.name), fold(table.alias_or_name)}


def _check_join(select: exp.Select, policy: Policy, own: tuple[OwnTable, ...], f: _Findings) -> JoinKey | None:
    """The one join a query may make: ``[INNER] JOIN own ON t.key = own.col``. Returns its key
    when the query joins validly; records why otherwise (every JOIN clause is judged here)."""
    joins = select.args.get("joins") or []
    if not joins:
        return None
    source = _from_table(select)
    how = (f"JOIN <your table> ON {policy.table}.<join column> = <your table>.<column>; the policy's "
           f"join columns are {policy.columns_with_role('join') or 'none'}")
    if not own:
        f.add("query.join", f"joins need your own table (suanshu analyze --own NAME=FILE), then {how}")
        return None
    if policy.mode not in ("aggregate", "dp"):
        f.add("query.join", f"{policy.mode} mode releases rows; joins are allowed in aggregate and dp modes only")
        return None
    if len(joins) > 1:
        f.add("query.join", f"one join at most: {how}")
        return None
    join = joins[0]
    extra = [k for k, v in join.args.items() if v and k not in ("this", "on", "kind")]
    table = join.this
    owned = {fold(t.name): t for t in own}
    if extra or join.args.get("kind") not in (None, "INNER") or not isinstance(join.args.get("on"), exp.EQ):
        f.add("query.join", f"only an inner equality join is allowed: {how}")
        return None
    if (not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier)
            or any(v for k, v in table.args.items() if k not in ("this", "alias"))
            or fold(table.name) not in owned):  # fmt: skip
        f.add("query.join", f"the joined table must be your own table, one of {sorted(t.name for t in own)}")
        return None
    alias = table.args.get("alias")
    if alias is not None and alias.args.get("columns"):
        f.add("query.construct_not_allowed", "table aliases may not rename columns")
        return None
    mine = owned[fold(table.name)]
    if not isinstance(source, exp.Table):
        return None  # _check_structure reports the FROM clause
    if _qualifiers(source) & _qualifiers(table):
        f.add("query.join", "your table and the policy table need different names and aliases")
        return None
    sides = {}
    for col in (join.args["on"].this, join.args["on"].expression):
        if not isinstance(col, exp.Column) or col.args.get("db") or col.args.get("catalog"):
            break
        side = ("source" if fold(col.table) in _qualifiers(source)
                else "own" if fold(col.table) in _qualifiers(table) else None)
        sides.setdefault(side, col)
    if set(sides) != {"source", "own"}:
        f.add("query.join", f"the join condition must compare one column of each table, both qualified: {how}")
        return None
    key, other = sides["source"], sides["own"]
    if policy.role(key.name) != "join":
        f.add("query.column_not_allowed",
              f"column {key.name!r} is not a join column of the policy; {how}")  # fmt: skip
        return None
    if fold(other.name) not in {fold(c) for c in mine.columns}:
        f.add("query.column_not_allowed", f"your table {mine.name!r} has no column {other.name!r}")
        return None
    return JoinKey(source_column=key.name, own_table=mine.name, own_column=other.name)


def _misplaced(node: exp.Expression, select: exp.Select) -> str | None:
    """Allowed node types that are only safe in one position."""
    parent = node.parent
    if isinstance(node, exp.From | exp.Where | exp.Group | exp.Having | exp.Order | exp.Limit | exp.Offset):
        if parent is not select:
            return f"{node.key.upper()} is only allowed as a clause of the query"
        if isinstance(node, exp.Limit | exp.Offset):
            extra = [k for k, v in node.args.items() if v and k != "expression"]
            value = _int_literal(node.expression)
            if extra or value is None or value < 0:
                return f"{node.key.upper()} must be a non-negative integer literal"
    elif isinstance(node, exp.Alias) and not (parent is select and node.arg_key == "expressions"):
        return "aliases are only allowed on output columns"
    elif isinstance(node, exp.Distinct) and not (type(parent) in AGGREGATE_FUNCTIONS and node.arg_key == "this"):
        return "DISTINCT is only allowed as COUNT(DISTINCT column)"  # SUM(DISTINCT) etc.: see _aggregate_form
    elif isinstance(node, exp.Var) and not isinstance(parent, exp.Extract | exp.DataType | exp.DataTypeParam):
        return f"{node.name.upper()} is not allowed here"
    elif isinstance(node, exp.TableAlias) and not isinstance(parent, exp.Table):
        return "table aliases are only allowed on the FROM table"
    return None


# ---------------------------------------------------------------------------------------------
# Aggregate mode: column roles, aggregates, predicates, grouping


def _aggregate_form(agg: exp.AggFunc) -> tuple[str, exp.Column | None] | str:
    """(policy aggregate name, its column or None for COUNT(*)), or the reason it is refused.

    Arguments are a single column on purpose: expressions inside an aggregate
    (SUM(CASE WHEN age = 37 THEN income END)) would select rows below the group size."""
    kind = AGGREGATE_FUNCTIONS[type(agg)]
    arg = agg.this
    extra = [k for k, v in agg.args.items() if v and k not in ("this", "big_int")]
    if extra:
        return f"{kind.upper()} takes a single argument"
    if kind == "count" and isinstance(arg, exp.Star):
        return "count", None
    if kind == "count" and isinstance(arg, exp.Distinct):
        cols = arg.expressions
        if len(cols) == 1 and isinstance(cols[0], exp.Column) and not arg.args.get("on"):
            return "count_distinct", cols[0]
        return "COUNT(DISTINCT ...) takes a single column"
    if isinstance(arg, exp.Distinct):
        return f"{kind.upper()}(DISTINCT ...) is not supported; only COUNT(DISTINCT column)"
    if isinstance(arg, exp.Column):
        return kind, arg
    return f"the argument of {kind.upper()} must be a single column"


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between,
                exp.Like, exp.ILike)  # fmt: skip


def _leaves(condition: exp.Expression):
    """The conditions joined by AND / OR / NOT / parentheses."""
    if isinstance(condition, exp.And | exp.Or):
        yield from _leaves(condition.this)
        yield from _leaves(condition.expression)
    elif isinstance(condition, exp.Not | exp.Paren):
        yield from _leaves(condition.this)
    else:
        yield condition


def _literal(node: exp.Expression) -> str | None:
    """"string", "number" or "null" for a literal (possibly negated), else None."""
    node = node.unnest()
    if isinstance(node, exp.Neg) and isinstance(node.this.unnest(), exp.Literal):
        node = node.this.unnest()
    if isinstance(node, exp.Literal):
        return "string" if node.is_string else "number"
    if isinstance(node, exp.Null):
        return "null"
    return "number" if isinstance(node, exp.Boolean) else None


def _aggregate_term(node: exp.Expression) -> str | None:
    """"numeric" for COUNT/SUM/AVG or a quotient of those and numbers, "minmax" for MIN/MAX,
    None for anything else (functions, CASE, + - * around aggregates: they can raise errors)."""
    node = node.unnest()
    if type(node) in AGGREGATE_FUNCTIONS:
        return "minmax" if isinstance(node, exp.Min | exp.Max) else "numeric"
    if isinstance(node, exp.Div):  # DuckDB's / never raises: x / 0 is NULL or infinity
        sides = (node.this, node.expression)
        if all(_aggregate_term(side) == "numeric" or _literal(side) == "number" for side in sides):
            return "numeric"
    return None


def _aggregate_condition_problem(leaf: exp.Expression) -> str | None:
    """Why a HAVING condition over aggregates could raise an error for some group, if it could.

    HAVING is evaluated for every group, small ones included, before the group-size threshold
    can drop them, so an error there (an overflow, a failed cast) would reveal a small group:
    a condition may only compare aggregates with literals, in forms that cannot fail."""
    if type(leaf) not in _COMPARISONS:
        return f"HAVING conditions on aggregates must be comparisons: {leaf.sql(dialect=DIALECT)}"
    operands = list(leaf.iter_expressions())
    terms = [_aggregate_term(op) for op in operands if _literal(op) is None]
    if None in terms:
        return ("in HAVING, aggregates may only be compared with literals or other aggregates "
                "(functions, CASE and arithmetic other than / are not allowed around them there): "
                f"{leaf.sql(dialect=DIALECT)}")  # fmt: skip
    if "minmax" in terms and (len(terms) > 1 or any(_literal(op) == "number" for op in operands)):
        return ("in HAVING, MIN and MAX may only be compared with string literals, e.g. MAX(x) > '100': "
                "DuckDB would convert every group's value, and a failed conversion would reveal a small group")  # fmt: skip
    return None


class _AggregateRules:
    """Semantic rules of aggregate mode over a structurally valid SELECT."""

    def __init__(self, select: exp.Select, table: exp.Table, policy: Policy,
                 own: OwnTable | None = None) -> None:
        self.select = select
        self.policy = policy
        self.qualifiers = _qualifiers(table)
        self.own = own  # the buyer's joined table, if the query joins one
        joins = select.args.get("joins")
        self.own_qualifiers = _qualifiers(joins[0].this) if own is not None else set()
        self.own_columns = {fold(c) for c in own.columns} if own is not None else set()
        self.items = list(select.expressions)
        self.aliases = {fold(i.alias): i.this for i in self.items if isinstance(i, exp.Alias)}
        self.group_keys: set[str] = set()  # normalised GROUP BY keys
        self.expression_keys: set[str] = set()  # ... those that are not a bare column

    def clauses(self):
        """(clause name, root node) for every clause that may hold column references."""
        for item in self.items:
            yield "select", item
        for name in ("where", "group", "having", "order"):
            node = self.select.args.get(name)
            if node is not None:
                yield name, node

    def resolve(self, col: exp.Column, clause: str) -> tuple[str, str]:
        """("alias" | "dimension" | "aggregate" | "refused", detail) for one column reference.

        DuckDB binds a bare name in HAVING / ORDER BY to an output alias before a table column,
        and never does inside an aggregate (HAVING MAX(x) reads table column x even when x is
        also an alias), so aliases resolve only there. Everywhere else a name is a table column.
        """
        name = col.name
        if col.args.get("db") or col.args.get("catalog"):
            return "refused", f"column {col.sql(dialect=DIALECT)} has a schema or catalog qualifier"
        if col.table and fold(col.table) in self.own_qualifiers:
            if fold(name) not in self.own_columns:
                return "refused", f"your table {self.own.name!r} has no column {name!r}"
            return "dimension", f"{col.table}.{name}"  # the buyer's own data
        if col.table and fold(col.table) not in self.qualifiers:
            return "refused", f"unknown qualifier {col.table!r} on column {name!r}"
        if not col.table and fold(name) in self.qualifiers | self.own_qualifiers:
            # DuckDB reads a bare table name or alias as the whole row (a struct of every
            # column, hidden ones included) whenever no column of that name exists.
            return "refused", f"{name!r} names the table, not a column"
        in_agg = col.find_ancestor(exp.AggFunc, exp.Select)
        if (clause in ("having", "order") and not col.table and not isinstance(in_agg, exp.AggFunc)
                and fold(name) in self.aliases):  # fmt: skip
            return "alias", name
        if self.own is not None and not col.table:
            return "refused", (f"qualify {name!r} (e.g. {self.policy.table}.{name}): in a join query every "
                               "column reference names its table")
        role = self.policy.role(name)
        if role == "join":
            return "refused", (f"column {name!r} is a join key: it may only appear in JOIN <your table> ON "
                               f"{self.policy.table}.{name} = <your table>.<column>, never output, "
                               "filtered, grouped or ordered")
        if role == "hidden":
            why = "is hidden by the policy" if self.policy.is_listed(name) else "is unknown (unlisted columns are hidden)"
            return "refused", f"column {name!r} {why}"
        return role, name

    def check(self, f: _Findings) -> None:
        for alias in self.aliases:
            if alias.startswith(RESERVED_PREFIX):
                f.add("query.column_not_allowed", f"output names starting with {RESERVED_PREFIX} are reserved")
        self._check_columns(f)
        self._check_aggregates(f)
        self._check_where(f)
        self._check_having(f)
        self._check_group_by(f)
        self._check_outputs(f)

    def _check_columns(self, f: _Findings) -> None:
        for clause, root in self.clauses():
            for col in root.find_all(exp.Column):
                kind, detail = self.resolve(col, clause)
                if kind == "refused":
                    f.add("query.column_not_allowed", detail)
                    continue
                agg = col.find_ancestor(exp.AggFunc, exp.Select)
                agg = agg if isinstance(agg, exp.AggFunc) else None
                if kind == "aggregate" and agg is None:
                    f.add("query.column_not_allowed",
                          f"aggregate column {detail!r} may only appear inside an aggregate function")  # fmt: skip
                elif kind == "dimension" and agg is not None and not isinstance(agg, exp.Count):
                    f.add("query.column_not_allowed",
                          f"dimension {detail!r} may only be aggregated with COUNT or COUNT(DISTINCT)")  # fmt: skip

    def _check_aggregates(self, f: _Findings) -> None:
        for agg in self.select.find_all(exp.AggFunc):
            form = _aggregate_form(agg)
            if isinstance(form, str):
                f.add("query.aggregate_not_allowed", form)
            elif form[0] not in self.policy.aggregates:
                f.add("query.aggregate_not_allowed",
                      f"aggregate {form[0]} is not allowed; the policy allows {sorted(self.policy.aggregates)}")  # fmt: skip

    def _check_where(self, f: _Findings) -> None:
        """WHERE: AND/OR/NOT over conditions that each involve one dimension and literals."""
        where = self.select.args.get("where")
        for leaf in _leaves(where.this) if where is not None else ():
            if leaf.find(exp.AggFunc):
                f.add("query.predicate_not_allowed", "aggregates are not allowed in WHERE; use HAVING")
            elif len({(fold(c.table), fold(c.name)) for c in leaf.find_all(exp.Column)}) > 1:
                f.add("query.predicate_not_allowed",
                      f"WHERE may only compare one dimension with literals: {leaf.sql(dialect=DIALECT)}")  # fmt: skip

    def _check_having(self, f: _Findings) -> None:
        having = self.select.args.get("having")
        for leaf in _leaves(having.this) if having is not None else ():
            # conditions on group keys alone are made error-free by the rewrite (TRY)
            problem = _aggregate_condition_problem(leaf) if leaf.find(exp.AggFunc) else None
            if problem:
                f.add("query.predicate_not_allowed", problem)

    def _check_group_by(self, f: _Findings) -> None:
        group = self.select.args.get("group")
        if group is None:
            return
        for key in group.expressions:
            position = _int_literal(key)
            if position is not None:  # GROUP BY 1 means the first output expression
                if not 1 <= position <= len(self.items):
                    f.add("query.construct_not_allowed", f"GROUP BY position {position} is out of range")
                    continue
                key = self.items[position - 1].unalias()
            if key.find(exp.AggFunc) or not key.find(exp.Column):
                f.add("query.construct_not_allowed",
                      f"GROUP BY keys must be dimension expressions: {key.sql(dialect=DIALECT)}")  # fmt: skip
                continue
            self.group_keys.add(_norm(key))
            if not isinstance(key.unnest(), exp.Column):
                self.expression_keys.add(_norm(key))

    def _check_outputs(self, f: _Findings) -> None:
        aggregates = any(item.find(exp.AggFunc) for item in self.items)
        if not self.group_keys and not aggregates:
            f.add("query.not_aggregated", "the query must aggregate: GROUP BY dimensions and/or use "
                  "aggregate functions; row listings are not allowed")  # fmt: skip
        for item in self.items:
            self._check_grouped(item.unalias(), "select", f)
        having = self.select.args.get("having")
        if having is not None:
            self._check_grouped(having.this, "having", f)
        for key in self._order_keys(f):
            self._check_grouped(key, "order", f)

    def _order_keys(self, f: _Findings) -> list[exp.Expression]:
        """ORDER BY keys that are expressions; a position must name an output column."""
        order, keys = self.select.args.get("order"), []
        for ordered in order.expressions if order is not None else ():
            key = ordered.this
            if isinstance(key, exp.Literal) and key.is_number:
                position = _int_literal(key)
                if position is None or not 1 <= position <= len(self.items):
                    f.add("query.construct_not_allowed", f"ORDER BY position {key.sql()} is not valid")
            else:
                keys.append(key)
        return keys

    def _check_grouped(self, node: exp.Expression, clause: str, f: _Findings) -> None:
        """Every column outside an aggregate must sit inside an expression that is grouped."""
        if isinstance(node, exp.AggFunc) or (self.group_keys and _norm(node) in self.group_keys):
            return
        if isinstance(node, exp.Column):
            kind, name = self.resolve(node, clause)
            if kind == "dimension":
                f.add("query.not_aggregated",
                      f"{name!r} must be in GROUP BY or inside an aggregate function")  # fmt: skip
            return  # other kinds are aliases (checked where defined) or reported by _check_columns
        for child in node.iter_expressions():
            self._check_grouped(child, clause, f)


# ---------------------------------------------------------------------------------------------
# Public API


def _output_name(item: exp.Expression) -> str:
    if isinstance(item, exp.Alias | exp.Column):
        return item.alias_or_name
    return item.sql(dialect=DIALECT, comments=False)


def _expand_aliases(select: exp.Select, policy: Policy) -> exp.Select:
    """A copy in which output aliases used in GROUP BY and HAVING are replaced by what they name.

    GROUP BY: DuckDB binds a name to a table column before an alias, and the guard cannot know
    unlisted (hidden) columns, so an alias name must never reach DuckDB there. HAVING: DuckDB
    binds a bare name outside aggregates to the alias, and evaluates the aliased expression for
    every group, so it must be judged as if written in HAVING. Names of policy columns stay
    columns in GROUP BY, as DuckDB reads them.
    """
    select = select.copy()
    aliases = {fold(i.alias): i.this for i in select.expressions if isinstance(i, exp.Alias)}
    group = select.args.get("group")
    for key in list(group.expressions) if group is not None else ():
        target = aliases.get(fold(key.name)) if isinstance(key, exp.Column) and not key.table else None
        # a literal target would turn into a GROUP BY position; leave it to be refused
        if target is not None and not policy.is_listed(key.name) and not isinstance(target, exp.Literal):
            key.replace(target.copy())
    having = select.args.get("having")
    refs = [] if having is None else [
        col for col in having.find_all(exp.Column)
        if not col.table and fold(col.name) in aliases
        and not isinstance(col.find_ancestor(exp.AggFunc, exp.Select), exp.AggFunc)
    ]  # fmt: skip
    for col in refs:
        col.replace(aliases[fold(col.name)].copy())
    return select


# Expressions made only of these cannot raise at run time: the functions are total on the one
# type they bind to (VARCHAR), and any other argument type is a binder error, raised while
# planning, the same for every row. TRY costs about 3x on a GROUP BY key, so it is skipped there.
_TOTAL_NODES = frozenset({exp.Column, exp.Identifier, exp.Paren, exp.Lower, exp.Upper, exp.Length, exp.Trim})


def _cannot_raise(node: exp.Expression) -> bool:
    return all(type(n) in _TOTAL_NODES or (type(n) is exp.Literal and n.is_string) for n in node.walk())


def _try_wrap_keys(node: exp.Expression, expression_keys: set[str]) -> None:
    """Wrap every occurrence of a GROUP BY expression key (outside aggregates) in TRY(...),
    unless it cannot raise an error."""
    if isinstance(node, exp.AggFunc) or not node.find(exp.Column):
        return
    if isinstance(node, exp.Ordered):  # renders like its key when ascending; wrap the key, not the order
        _try_wrap_keys(node.this, expression_keys)
        return
    if not isinstance(node.unnest(), exp.Column) and _norm(node) in expression_keys:
        if not _cannot_raise(node):
            node.replace(exp.Try(this=node.copy()))
        return
    for child in list(node.iter_expressions()):
        _try_wrap_keys(child, expression_keys)


def _rewrite_aggregate(select: exp.Select, policy: Policy, names: list[str], expression_keys: set[str],
                       source: str | None = None) -> str:
    """The query that runs. Besides the group-size threshold, every expression DuckDB evaluates
    for rows or groups that may not pass the threshold (WHERE, GROUP BY keys, HAVING conditions
    on keys) goes inside TRY(...): an error there (a failed cast, an overflow) would otherwise
    tell whether some small group or single row exists. SELECT and ORDER BY run after HAVING,
    on released groups only; HAVING conditions on aggregates were restricted to error-free forms.
    ``select`` is changed in place: callers pass a copy they own.
    """
    query = select
    for clause in (*query.expressions, query.args.get("group"), query.args.get("having"), query.args.get("order")):
        if clause is not None:
            _try_wrap_keys(clause, expression_keys)
    where = query.args.get("where")
    if where is not None:
        where.set("this", exp.Try(this=where.this))
    having = query.args.get("having")
    for leaf in list(_leaves(having.this)) if having is not None else ():
        if not leaf.find(exp.AggFunc):
            leaf.replace(exp.Try(this=leaf.copy()))

    for item, name in zip(list(query.expressions), names, strict=True):
        if not isinstance(item, exp.Alias | exp.Column):
            item.replace(exp.alias_(item.copy(), name, quoted=True))
    query.select(exp.alias_(_group_measure(policy, source), GROUP_ROWS), copy=False)
    threshold = exp.GTE(this=_group_measure(policy, source), expression=exp.Literal.number(policy.min_group_size))
    having = query.args.get("having")
    condition = threshold if having is None else exp.And(this=exp.Paren(this=having.this), expression=threshold)
    query.set("having", exp.Having(this=condition))
    return query.sql(dialect=DIALECT, comments=False)


def _group_measure(policy: Policy, source: str | None = None) -> exp.Expression:
    """What a group's size is: its rows, or its distinct entities when the policy names an entity.
    ``source`` qualifies the entity column in a join query (the buyer's table may share its name)."""
    if policy.entity is None:
        return exp.Count(this=exp.Star())
    entity = exp.column(exp.to_identifier(policy.entity, quoted=True),
                        table=exp.to_identifier(source, quoted=True) if source else None)
    return exp.Count(this=exp.Distinct(expressions=[entity]))


class _DPRules:
    """dp mode on top of the aggregate rules: noise goes on each aggregate, so an output is a
    group key or one bare COUNT/SUM/AVG, and nothing filters or ranks on true aggregate values."""

    def __init__(self, rules: _AggregateRules) -> None:
        self.rules = rules

    def check(self, f: _Findings) -> None:
        select = self.rules.select
        for item in self.rules.items:
            inner = item.unalias()
            if inner.find(exp.AggFunc) and type(inner) not in (exp.Count, exp.Sum, exp.Avg):
                f.add("query.dp_not_allowed", "in dp mode each output is a group key or one COUNT, SUM or AVG "
                      f"(noise is added per aggregate; compute derived figures yourself): {item.sql(dialect=DIALECT)}")
        having = select.args.get("having")
        if having is not None and having.find(exp.AggFunc):
            f.add("query.dp_not_allowed", "in dp mode HAVING may not use aggregates: it would filter on true values")
        order = select.args.get("order")
        for ordered in order.expressions if order is not None else ():
            if self._target(ordered.this).find(exp.AggFunc):
                f.add("query.dp_not_allowed", "in dp mode ORDER BY may not use aggregates: it would rank true values")

    def _target(self, key: exp.Expression) -> exp.Expression:
        position = _int_literal(key)
        if position is not None and 1 <= position <= len(self.rules.items):
            return self.rules.items[position - 1].unalias()
        if isinstance(key, exp.Column) and not key.table and fold(key.name) in self.rules.aliases:
            return self.rules.aliases[fold(key.name)]
        return key


def _quantised(col: exp.Column, grid: dpmath.Grid) -> tuple[exp.Expression, exp.Expression]:
    """(grid value, value) of a column clamped to its bounds: TRY_CAST so no row can raise an
    error, the clamp bounds what one row adds, the grid makes the sum an integer (policy.dp)."""
    value = f"TRY_CAST({col.sql(dialect=DIALECT)} AS DOUBLE)"
    lo, hi = repr(float(grid.lower)), repr(float(grid.upper))
    clamped = f"CASE WHEN {value} < {lo} THEN {lo} WHEN {value} > {hi} THEN {hi} ELSE {value} END"
    on_grid = f"CAST(ROUND(({clamped}) * {grid.scale_sql()}) AS BIGINT)"
    return sqlglot.parse_one(on_grid, read=DIALECT), sqlglot.parse_one(value, read=DIALECT)


def _rewrite_dp(select: exp.Select, policy: Policy, names: list[str], expression_keys: set[str],
                source: str | None = None) -> tuple[str, tuple[str, ...], tuple[dpmath.Output, ...]]:
    query = select.copy()
    items = list(query.expressions)
    # GROUP BY / ORDER BY positions count the buyer's outputs, which the measurements change
    for clause in ("group", "order"):
        node = query.args.get(clause)
        for key in list(node.expressions) if node is not None else ():
            target = key.this if isinstance(key, exp.Ordered) else key
            position = _int_literal(target)
            if position is not None:
                target.replace(items[position - 1].unalias().copy())
    new_items, result_names, outputs = [], [], []

    def measure(node: exp.Expression) -> int:
        name = f"{RESERVED_PREFIX}_m{len(new_items)}"
        new_items.append(exp.alias_(node, name, quoted=True))
        result_names.append(name)
        return len(new_items) - 1

    for item, name in zip(items, names, strict=True):
        inner = item.unalias()
        if not isinstance(inner, exp.AggFunc):
            new_items.append(item)
            result_names.append(name)
            outputs.append(dpmath.Output("key", (len(new_items) - 1,)))
            continue
        kind, col = _aggregate_form(inner)
        if kind == "count":
            outputs.append(dpmath.Output("count", (measure(inner.copy()),)))
            continue
        grid = dpmath.grid(*policy.dp.bounds[fold(col.name)])
        on_grid, value = _quantised(col, grid)
        if kind == "sum":
            outputs.append(dpmath.Output("sum", (measure(exp.Sum(this=on_grid)),), grid))
        else:
            source = (measure(exp.Sum(this=on_grid)), measure(exp.Count(this=value)))
            outputs.append(dpmath.Output("avg", source, grid))
    query.set("expressions", new_items)
    sql = _rewrite_aggregate(query, policy, result_names, expression_keys, source)
    return sql, (*result_names, GROUP_ROWS), tuple(outputs)


class _ExtractRules(_AggregateRules):
    """extract mode: rows of dimension and aggregate columns; the rest as in aggregate mode."""

    def check(self, f: _Findings) -> None:
        for alias in self.aliases:
            if alias.startswith(RESERVED_PREFIX):
                f.add("query.column_not_allowed", f"output names starting with {RESERVED_PREFIX} are reserved")
        for clause, root in self.clauses():
            for col in root.find_all(exp.Column):
                kind, detail = self.resolve(col, clause)
                if kind == "refused":
                    f.add("query.column_not_allowed", detail)
        if self.select.find(exp.AggFunc):
            f.add("query.aggregate_not_allowed", "extract mode returns rows; aggregates need an aggregate or dp policy")
        for clause in ("group", "having", "offset"):
            if self.select.args.get(clause) is not None:
                f.add("query.construct_not_allowed", f"{clause.upper()} is not allowed in extract mode")
        self._check_where(f)
        self._order_keys(f)  # checks positions; the expressions were checked with the other columns


def _rewrite_extract(select: exp.Select, policy: Policy, names: list[str]) -> str:
    query = select.copy()
    where = query.args.get("where")
    if where is not None:
        where.set("this", exp.Try(this=where.this))
    for item, name in zip(list(query.expressions), names, strict=True):
        if not isinstance(item, exp.Alias | exp.Column):
            item.replace(exp.alias_(item.copy(), name, quoted=True))
    # one row past the cap tells the engine that it cut; rows beyond are never read
    cap = policy.max_rows + 1
    limit = query.args.get("limit")
    asked = _int_literal(limit.expression) if limit is not None else None
    query.limit(cap if asked is None else min(asked, cap), copy=False)
    return query.sql(dialect=DIALECT, comments=False)


def guard(sql: str, policy: Policy, own: tuple[OwnTable, ...] = ()) -> GuardedQuery:
    """Check a buyer's query against the policy; return it rewritten, or raise Refused/UsageError.
    ``own``: the tables the buyer brought, which the query may join once (see Joins above)."""
    if policy.mode not in ("aggregate", "dp", "extract"):
        raise UsageError("policy.mode_unsupported", f"policy mode {policy.mode!r} takes no SQL queries")
    tree = _parse_one(sql)
    if not isinstance(tree, exp.Select | exp.SetOperation | exp.Subquery):
        raise Refused("query.not_single_select", f"only SELECT is allowed, got {_statement_kind(tree)}")

    f = _Findings()
    if tree.find(exp.With):
        f.add("query.cte", "WITH (common table expressions) is not allowed")
    if isinstance(tree, exp.SetOperation):
        f.add("query.set_operation", "UNION, INTERSECT and EXCEPT are not allowed")
    if isinstance(tree, exp.Subquery):
        f.add("query.subquery", "subqueries are not allowed")
    f.raise_first()

    joined = _check_join(tree, policy, tuple(own), f)
    _check_structure(tree, policy, f)
    f.raise_first()  # the semantic rules assume one valid table and no nested scopes
    key = joined
    mine = next((t for t in own if key and fold(t.name) == fold(key.own_table)), None)
    source = _from_table(tree).alias_or_name if key else None
    select = _expand_aliases(tree, policy)
    names = [_output_name(item) for item in select.expressions]
    normalised = tree.sql(dialect=DIALECT, comments=False)
    common = {"original_sql": sql, "sha256": hashlib.sha256(normalised.encode()).hexdigest(),
              "output_columns": tuple(names), "mode": policy.mode, "join": key}

    if policy.mode == "extract":
        _ExtractRules(select, _from_table(select), policy).check(f)
        f.raise_first()
        return GuardedQuery(sql=_rewrite_extract(select, policy, names), result_columns=tuple(names), **common)

    rules = _AggregateRules(select, _from_table(select), policy, mine)
    rules.check(f)
    if policy.mode == "dp":
        _DPRules(rules).check(f)
    f.raise_first()
    if policy.mode == "dp":
        rewritten, result_columns, outputs = _rewrite_dp(select, policy, names, rules.expression_keys, source)
        return GuardedQuery(sql=rewritten, result_columns=result_columns, dp_outputs=outputs, **common)
    return GuardedQuery(sql=_rewrite_aggregate(select, policy, names, rules.expression_keys, source),
                        result_columns=(*names, GROUP_ROWS), **common)


def check_projection(sql: str, allowed_tables: set[str]) -> str:
    """Check a provider's component SQL; return it normalised (DuckDB dialect, no comments).

    A provider may use joins, subqueries, CTEs and most functions over its own tables, but the
    query must be one SELECT that reads only ``allowed_tables`` (unqualified) and cannot reach
    files, the network or the engine's configuration.
    """
    tree = _parse_one(sql)
    if not isinstance(tree, exp.Query):
        raise Refused("query.not_single_select", f"only SELECT is allowed, got {_statement_kind(tree)}")
    allowed = {fold(t) for t in allowed_tables}
    ctes = {fold(cte.alias_or_name) for cte in tree.find_all(exp.CTE)}
    f = _Findings()
    for node in tree.walk():
        if isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier):
                f.add("query.unknown_table", "table functions are not allowed")
            elif node.args.get("db") or node.args.get("catalog"):
                f.add("query.unknown_table", f"write table {node.name!r} without a schema or catalog")
            elif fold(node.name) not in allowed | ctes:
                f.add("query.unknown_table", f"unknown table {node.name!r}; allowed: {sorted(allowed)}")
        elif isinstance(node, exp.Func) and _IO_FUNCTION.fullmatch(_function_name(node).lower()):
            f.add("query.function_not_allowed", f"function {_function_name(node)} is not allowed")
        elif isinstance(node, exp.Into):
            f.add("query.construct_not_allowed", "SELECT ... INTO is not allowed")
    f.raise_first()
    return tree.sql(dialect=DIALECT, comments=False)
