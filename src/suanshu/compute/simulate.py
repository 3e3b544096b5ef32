"""What-if simulator: replay a job trace on pools with the scheduler, pure and deterministic.

A trace is a list of jobs in the job shape plus ``arrival`` (hours since the trace start); a job
runs for its ``hours``. Discrete events: at each arrival or completion, finished jobs free their
capacity, and the scheduler places the waiting queue on the free capacity (same goals as
offline: most placed, fair share, least cost). A job that fits no pool even when empty is
rejected at arrival with the scheduler's reason; others wait until capacity frees up.

No reservations or backfill windows: a large job may wait while smaller ones keep starting
(fair-share rank favours a buyer's earlier jobs, but nothing guarantees the large one a slot).
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Sequence

from suanshu.compute import exact, heuristic
from suanshu.compute.scheduler import JobSpec, Resources, parse_jobs, parse_pools


def simulate(pools: Sequence, trace: Sequence, *, mode: str = "heuristic", time_limit: float = 5.0) -> dict:
    pools = parse_pools(pools)
    jobs = sorted(parse_jobs(trace, extra_keys=frozenset({"arrival"})), key=lambda j: (j.arrival, j.index))
    free = [p.capacity for p in pools]
    busy = [{"cpu": 0.0, "memory_gb": 0.0, "accelerators": {}} for _ in pools]
    running: list[tuple[float, int, int, Resources]] = []  # (finish, tie-break, pool index, demand)
    queue: list[JobSpec] = []
    out: dict[str, dict] = {}
    rejected = []
    revenue = [0] * len(pools)
    count = [0] * len(pools)
    nxt = 0
    start = float(jobs[0].arrival) if jobs else 0.0
    now = start
    while nxt < len(jobs) or running:
        now = min(float(jobs[nxt].arrival) if nxt < len(jobs) else float("inf"),
                  running[0][0] if running else float("inf"))
        while running and running[0][0] <= now:
            _, _, p, demand = heapq.heappop(running)
            free[p] = free[p] + demand
        while nxt < len(jobs) and float(jobs[nxt].arrival) <= now:
            queue.append(jobs[nxt])
            nxt += 1
        if not queue:
            continue
        # The queue keeps arrival order, so fair-share ranks favour each buyer's earlier jobs.
        problem = heuristic.Problem(pools, queue, free)
        plan = heuristic.solve(problem, budget_s=time_limit)
        if mode == "exact" or (mode == "auto" and problem.pair_count() <= 20_000):
            plan, _ = exact.solve(problem, hint=plan, time_limit=time_limit)
        result = problem.result(plan, mode, None, explain=False)
        by_id = {j.id: j for j in queue}
        pool_ix = {p.id: i for i, p in enumerate(pools)}
        for pl in result.placements:
            job, p = by_id[pl.job], pool_ix[pl.pool]
            free[p] = free[p] - job.demand
            finish = now + float(job.hours)
            heapq.heappush(running, (finish, job.index, p, job.demand))
            d = job.demand
            b = busy[p]
            b["cpu"] += d.cpu * float(job.hours)
            b["memory_gb"] += d.memory_gb * float(job.hours)
            for t, c in d.accelerators:
                b["accelerators"][t] = b["accelerators"].get(t, 0.0) + c * float(job.hours)
            revenue[p] += pl.cost
            count[p] += 1
            arrival = float(job.arrival)
            out[job.id] = {"job": job.id, "pool": pl.pool, "arrival": arrival, "start": now, "finish": finish,
                           "wait": now - arrival, "completion": finish - arrival, "cost": pl.cost}
        static = {u.job: u for u in result.unplaced if u.code != "schedule.capacity_exhausted"}
        for job_id, u in static.items():
            rejected.append({"job": job_id, "arrival": float(by_id[job_id].arrival), "code": u.code,
                             "reason": u.reason})
        queue = [j for j in queue if j.id not in out and j.id not in static]
    makespan = max((r["finish"] for r in out.values()), default=start) - start
    done = [out[j.id] for j in jobs if j.id in out]
    waits = sorted(r["wait"] for r in done)
    completions = [r["completion"] for r in done]

    def share(x: float, cap: int) -> float:
        return round(x / (cap * makespan), 4) if makespan > 0 and cap else 0.0

    return {
        "jobs": done,
        "rejected": rejected,
        "pools": [{"pool": p.id, "jobs": count[i], "revenue": revenue[i], "utilisation": {
            "cpu": share(busy[i]["cpu"], p.capacity.cpu), "memory_gb": share(busy[i]["memory_gb"], p.capacity.memory_gb),
            "accelerators": {t: share(busy[i]["accelerators"].get(t, 0.0), c) for t, c in p.capacity.accelerators}}}
            for i, p in enumerate(pools)],
        "summary": {
            "jobs": len(jobs), "completed": len(done), "rejected": len(rejected), "makespan_hours": round(makespan, 4),
            "wait_hours": _stats(waits), "completion_hours": _stats(sorted(completions)),
            "total_cost": sum(r["cost"] for r in done)},
    }


def _stats(xs: list[float]) -> dict:
    if not xs:
        return {"mean": 0.0, "p95": 0.0, "max": 0.0}
    return {"mean": round(statistics.fmean(xs), 4), "p95": round(xs[min(len(xs) - 1, int(0.95 * len(xs)))], 4),
            "max": round(xs[-1], 4)}
