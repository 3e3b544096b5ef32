"""The SmartNoise SQL side of bench/policy_overhead.py (smartnoise-sql is in the ``bench``
dependency group); policy_overhead.py runs it as a child process.

Reads the same Parquet file, runs the same DP query ``repeats`` times at the same ε, prints one
JSON object: load time, per-run query times and every noisy answer, and the ε SmartNoise
accounts for one query (its ``epsilon`` is per measured column, so it is scaled to match).
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.metadata import version

import pandas as pd
import snsql
from snsql import Privacy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parquet", required=True)
    ap.add_argument("--epsilon", type=float, required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--upper", type=float, default=100_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    df = pd.read_parquet(args.parquet, columns=["city", "income"])
    metadata = {"bench": {"bench": {"t": {
        "row_privacy": True, "censor_dims": False, "clamp_counts": True,
        "city": {"type": "string"},
        "income": {"type": "int", "lower": 0, "upper": int(args.upper)},
    }}}}  # fmt: skip
    sql = "SELECT city, COUNT(*) AS n, SUM(income) AS s FROM bench.t GROUP BY city"
    # delta only matters for thresholding, which is off (censor_dims: false), as in our engine.
    # SmartNoise's epsilon is per measured column; scale it so the whole query costs --epsilon,
    # which is what one query costs in our dp mode.
    reader = snsql.from_df(df, privacy=Privacy(epsilon=args.epsilon, delta=1e-6), metadata=metadata)
    cost = reader.get_privacy_cost(sql)[0]
    per_column = args.epsilon * args.epsilon / cost
    reader = snsql.from_df(df, privacy=Privacy(epsilon=per_column, delta=1e-6), metadata=metadata)
    load_s = time.perf_counter() - t0
    times, answers = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        rows = reader.execute(sql)
        times.append(time.perf_counter() - t)
        answers.append([[r[0], float(r[1]), float(r[2])] for r in rows[1:]])  # rows[0] is the header
    print(json.dumps({"load_s": load_s, "times_s": times, "answers": answers, "epsilon_per_column": per_column,
                      "epsilon_query": reader.get_privacy_cost(sql)[0],
                      "version": version("smartnoise-sql")}))


if __name__ == "__main__":
    main()
