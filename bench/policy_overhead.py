"""Policy overhead (issue 4): governed queries vs raw DuckDB, and dp mode vs SmartNoise SQL.

    uv run python bench/policy_overhead.py [--rows 10000000] [--repeats 7] [--dp-repeats 5] [--no-peer]

Generates a deterministic table (a multiplicative hash of the row number, no randomness) in a
temp dir as Parquet, then prints JSON lines:

- ``shape``: per query shape, the median wall time of the governed engine (guard + rewrite +
  sandboxed run + output check) and of the same SQL on a plain DuckDB connection with the same
  threads and memory limit, in this process, interleaved; the rewritten SQL on that plain
  connection (what the rewrite alone costs); and the guard's median latency alone, as wall time
  and as CPU time of this process (the guard is single-threaded Python; on a loaded machine
  the wall time also counts waiting for a core);
- ``dp``: one GROUP BY query at the same ε in our dp mode and in SmartNoise SQL (the ``bench``
  dependency group; it runs in a child process, bench/smartnoise_peer.py, so its pandas copy of
  the table does not share memory or threads with the DuckDB runs): median query times, speed ratio, mean absolute error of
  the counts and sums against the exact (clamped) answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from suanshu.policy import Policy, Sandbox, guard, own_tables, run_aggregate, run_dp

MEMORY, THREADS = "4GB", 2
SHAPES = {
    "global": "SELECT count(*), avg(income) FROM t",
    "group_one": "SELECT city, count(*), sum(income) FROM t GROUP BY city",
    "filter_group": "SELECT region, avg(age) FROM t WHERE city IN ('c1', 'c2', 'c3') GROUP BY region",
    "two_dims_having_order": "SELECT city, region, count(*) AS n FROM t GROUP BY city, region "
                             "HAVING count(*) > 1000 ORDER BY n DESC LIMIT 10",
    "expression_key": "SELECT lower(city) AS c, count(DISTINCT region), avg(income) FROM t GROUP BY 1 ORDER BY 1",
    # beyond the five: the join role, with an analyst's table of a tenth as many keys
    "join_own": "SELECT o.segment, count(*), avg(t.income) FROM t JOIN own AS o ON t.pid = o.pid GROUP BY o.segment",
}  # fmt: skip
COLUMNS = {"city": "dimension", "region": "dimension", "age": "aggregate", "income": "aggregate", "name": "hidden",
           "pid": "join"}  # fmt: skip
AGGREGATE = Policy.from_dict({"mode": "aggregate", "table": "t", "columns": COLUMNS, "min_group_size": 10,
                              "aggregates": ["count", "sum", "avg", "count_distinct"]})  # fmt: skip
DP_SQL = "SELECT city, count(*), sum(income) FROM t GROUP BY city"


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def generate(path: Path, rows: int) -> None:
    h = "((range * 2654435761) % 4294967296)"  # Knuth's multiplicative hash: deterministic, well spread
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'c' || ({h} % 20) AS city, 'r' || ({h} // 7 % 5) AS region,
                         18 + ({h} // 11 % 63)::INT AS age, ({h} // 13 % 100000)::BIGINT AS income,
                         'person-' || range AS name, range AS pid
                  FROM range({rows})) TO '{path}' (FORMAT parquet)""")
    # the analyst's own table: every tenth person, with a segment of theirs
    con.execute(f"""COPY (SELECT range * 10 AS pid, 's' || (range % 4) AS segment FROM range({rows // 10}))
                  TO '{path.with_name("own.parquet")}' (FORMAT parquet)""")
    con.close()


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measured(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU counts every thread of this process (DuckDB's too),
    so it does not grow when other processes hold the cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def ms(samples, digits: int = 1) -> float:
    return round(statistics.median(samples) * 1e3, digits)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dp-repeats", type=int, default=5)
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--snsql-python", default=sys.executable, help="a Python with smartnoise-sql installed")
    ap.add_argument("--no-peer", action="store_true", help="skip SmartNoise (its setup takes minutes at 10M rows)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="suanshu-bench-") as tmp:
        data = Path(tmp) / "t.parquet"
        emit({"bench": "policy_overhead", "rows": args.rows, "load_avg": os.getloadavg(), "generate_s": round(timed(lambda: generate(data, args.rows)), 2),
              "duckdb": duckdb.__version__, "threads": THREADS})  # fmt: skip
        raw = duckdb.connect(config={"memory_limit": MEMORY, "threads": THREADS})
        own_file = data.with_name("own.parquet")
        raw.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{data}')")
        raw.execute(f"CREATE VIEW own AS SELECT * FROM read_parquet('{own_file}')")
        with Sandbox({"t": data, "own": own_file}, memory_limit=MEMORY, threads=THREADS, timeout_s=600,
                     views={"t": 'SELECT * FROM vault."t"', "own": 'SELECT * FROM vault."own"'}) as box:
            own = own_tables(box, ["own"])
            for name, sql in SHAPES.items():
                run_aggregate(box, AGGREGATE, sql, own=own)  # warm both (file cache, metadata)
                raw.execute(sql).fetchall()
                rewritten = guard(sql, AGGREGATE, own).sql
                runs = {"governed": lambda q=sql: run_aggregate(box, AGGREGATE, q, own=own),
                        "raw": lambda q=sql: raw.execute(q).fetchall(),
                        "rewritten_raw": lambda q=rewritten: raw.execute(q).fetchall()}
                wall, cpu = {k: [] for k in runs}, {k: [] for k in runs}
                for _ in range(args.repeats):  # interleaved, so drift hits all alike
                    for kind, fn in runs.items():
                        w, c = measured(fn)
                        wall[kind].append(w)
                        cpu[kind].append(c)
                guard_wall, guard_cpu = zip(*(measured(lambda q=sql: guard(q, AGGREGATE, own)) for _ in range(200)))
                out = {"shape": name, "sql": sql}
                for kind in runs:
                    out[f"{kind}_ms"] = ms(wall[kind])
                    out[f"{kind}_cpu_ms"] = ms(cpu[kind])
                out["ratio"] = round(out["governed_ms"] / out["raw_ms"], 3)
                out["cpu_ratio"] = round(out["governed_cpu_ms"] / out["raw_cpu_ms"], 3)
                out.update(guard_ms=ms(guard_wall, 3), guard_cpu_ms=ms(guard_cpu, 3))
                emit(out)

            dp_policy = Policy.from_dict({
                "mode": "dp", "table": "t", "columns": COLUMNS, "min_group_size": 10,
                "dp": {"epsilon_per_query": args.epsilon, "epsilon_total": args.epsilon * 1000,
                       "bounds": {"income": [0, 100_000], "age": [0, 120]}}})  # fmt: skip
            truth = {c: (n, s) for c, n, s in raw.execute(
                "SELECT city, count(*), sum(least(greatest(income, 0), 100000)) FROM t GROUP BY city").fetchall()}
            ours_t, ours = [], []
            for _ in range(args.dp_repeats):
                t = time.perf_counter()
                answer = run_dp(box, dp_policy, DP_SQL)
                ours_t.append(time.perf_counter() - t)
                ours.append(answer.rows)
        raw.close()
        result = {"dp": "group_by_count_sum", "epsilon": args.epsilon, "sql": DP_SQL,
                  "suanshu_ms": round(statistics.median(ours_t) * 1e3, 1), **_mae("suanshu", ours, truth)}
        peer = None if args.no_peer else _smartnoise(args, data)
        if peer is None:
            result["smartnoise"] = "skipped: --no-peer" if args.no_peer else f"skipped: {args.snsql_python} not found"
        else:
            result.update({"smartnoise_ms": round(statistics.median(peer["times_s"]) * 1e3, 1),
                           "smartnoise_load_s": round(peer["load_s"], 1), **_mae("smartnoise", peer["answers"], truth),
                           "smartnoise_epsilon_query": peer["epsilon_query"]})
            result["speedup_vs_smartnoise"] = round(result["smartnoise_ms"] / result["suanshu_ms"], 1)
        emit(result)


def _mae(who: str, answers: list, truth: dict) -> dict:
    count_err, sum_err = [], []
    for rows in answers:
        for city, n, s in rows:
            count_err.append(abs(n - truth[city][0]))
            sum_err.append(abs(s - truth[city][1]))
    return {f"{who}_mae_count": round(statistics.fmean(count_err), 2),
            f"{who}_mae_sum": round(statistics.fmean(sum_err), 1)}


def _smartnoise(args, data: Path) -> dict | None:
    if not Path(args.snsql_python).exists():
        return None
    peer = Path(__file__).with_name("smartnoise_peer.py")
    out = subprocess.run([args.snsql_python, str(peer), "--parquet", str(data), "--epsilon", str(args.epsilon),
                          "--repeats", str(args.dp_repeats)], check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
