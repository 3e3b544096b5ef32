"""Scheduler benchmark (issue 6): heuristic quality against CP-SAT's proved optimum, and speed at scale.

    OMP_NUM_THREADS=1 uv run python bench/scheduler.py [--quick]

Prints one JSON object per line. Quality: generated networks of 30 pools and 150 jobs; CP-SAT
(one worker, no hint, so the optimum does not depend on the heuristic) solves each instance;
only instances it proves optimal are compared. Speed: 10,000 pools and 100,000 jobs, the whole
path (filter, score, assign, repair) on one core, several runs, best and median. The peers
(kube-scheduler 100-900 pods/s, Slurm about 500 jobs/s) are published figures, not run here.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")  # one core, as the target says

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from suanshu.compute import exact, heuristic, instances  # noqa: E402
from suanshu.compute.scheduler import parse_jobs, parse_pools  # noqa: E402


def emit(**row) -> None:
    print(json.dumps(row, ensure_ascii=False), flush=True)


def quality(seeds: range, n_pools: int, n_jobs: int, load: float, time_limit: float) -> None:
    for seed in seeds:
        raw = instances.pools(n_pools, seed=seed)
        pr = heuristic.Problem(parse_pools(raw), parse_jobs(instances.jobs(n_jobs, raw, seed=seed, load=load)))
        t = time.process_time()
        plan = heuristic.solve(pr)
        t_h = time.process_time() - t  # CPU seconds
        t = time.perf_counter()
        best, proved = exact.solve(pr, hint=[-1] * len(pr.jobs), time_limit=time_limit)
        t_e = time.perf_counter() - t
        h, e = pr.result(plan, "heuristic", None), pr.result(best, "exact", proved)
        emit(bench="scheduler.quality", seed=seed, pools=n_pools, jobs=n_jobs, load=load, pairs=pr.pair_count(),
             proved_optimal=proved, placed_heuristic=len(h.placements), placed_optimum=len(e.placements),
             fair_rank_sum_heuristic=h.stats["fair_rank_sum"], fair_rank_sum_optimum=e.stats["fair_rank_sum"],
             cost_heuristic=h.total_cost, cost_optimum=e.total_cost,
             cost_gap_pct=round(100 * (h.total_cost - e.total_cost) / max(1, e.total_cost), 3),
             heuristic_cpu_s=round(t_h, 3), cpsat_s=round(t_e, 2))


def speed(n_pools: int, n_jobs: int, regions: int, runs: int) -> None:
    raw_pools = instances.pools(n_pools, seed=1, n_regions=regions)
    raw_jobs = instances.jobs(n_jobs, raw_pools, seed=1, load=0.8)
    pools, jobs = parse_pools(raw_pools), parse_jobs(raw_jobs)  # parsing JSON shapes is not scheduling
    times, build, cpu = [], [], []
    for run in range(runs):
        t, c = time.perf_counter(), time.process_time()
        pr = heuristic.Problem(pools, jobs)
        t_build = time.perf_counter() - t
        plan = heuristic.solve(pr)
        total = time.perf_counter() - t
        cpu.append(time.process_time() - c)  # CPU time: what one core spent, whatever else ran
        times.append(total)
        build.append(t_build)
        placed = [(j, p) for j, p in enumerate(plan) if p >= 0]
        cost = sum(pr.cands[j][p] for j, p in placed)
        floor = sum(next(iter(pr.cands[j].values())) for j, _ in placed)  # each at its cheapest pool
        emit(bench="scheduler.speed.run", run=run, pools=n_pools, jobs=n_jobs, regions=regions,
             seconds=round(total, 3), cpu_s=round(cpu[-1], 3), filter_score_s=round(t_build, 3), jobs_per_s=round(n_jobs / total),
             placed=len(placed), statically_infeasible=len(pr.reason),
             mean_candidates_kept=round(statistics.fmean(len(c) for c in pr.cands), 1),
             cost_over_cheapest_pool_floor_pct=round(100 * (cost - floor) / max(1, floor), 3))
    emit(bench="scheduler.speed", pools=n_pools, jobs=n_jobs, runs=runs, best_s=round(min(times), 3),
         median_s=round(statistics.median(times), 3), best_cpu_s=round(min(cpu), 3), best_jobs_per_s=round(n_jobs / min(times)),
         target_s=10, anchors={"kube-scheduler_pods_per_s": "100-900", "slurm_jobs_per_s": "~500"},
         load_average=os.getloadavg()[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer seeds, smaller speed run")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    a = ap.parse_args()
    if not a.skip_quality:
        quality(range(2 if a.quick else a.seeds), 30, 150, 0.8, a.time_limit)
    if not a.skip_speed:
        speed(1000 if a.quick else 10_000, 10_000 if a.quick else 100_000, 100, 1 if a.quick else a.runs)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
