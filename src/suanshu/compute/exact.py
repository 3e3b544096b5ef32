"""The exact mode: OR-Tools CP-SAT, lexicographic in three solves.

One boolean per feasible (job, pool) pair, at most one pool per job, and for every pool and
resource (cpu, memory, each accelerator type) the placed demand within the free capacity.
Then, as in the heuristic, three goals in order, each solved to optimality and frozen as a
constraint before the next (rather than one objective with huge weights, which slows CP-SAT):

1. maximise the number of placed jobs;
2. minimise the sum of fair-share ranks of placed jobs (see ``scheduler`` for the rule);
3. minimise the total cost in fen (exact integer costs, ``scheduler.cost``).

The heuristic's plan is the hint, and is kept if CP-SAT runs out of time with a worse plan.
"""

from __future__ import annotations

import time

from suanshu.compute.heuristic import Problem
from suanshu.compute.scheduler import cost


def _key(pr: Problem, assign: list[int], costs: dict) -> tuple[int, int, int]:
    placed = [(j, p) for j, p in enumerate(assign) if p >= 0]
    return (-len(placed), sum(pr.rank[j] for j, _ in placed), sum(costs[j, p] for j, p in placed))


def solve(pr: Problem, *, hint: list[int], time_limit: float = 20.0, workers: int = 1) -> tuple[list[int], bool]:
    """Returns (plan, proved optimal). ``time_limit`` is for the three solves together."""
    from ortools.sat.python import cp_model

    costs = {(j, p): cost(pr.jobs[j], pr.pools[p]) for j in range(len(pr.jobs)) for p in pr.cands[j]}
    if not costs:
        return hint, True
    m = cp_model.CpModel()
    x = {jp: m.new_bool_var(f"x{jp[0]}_{jp[1]}") for jp in costs}
    by_job: dict[int, list] = {}
    by_pool: dict[int, list] = {}
    for (j, p), var in x.items():
        by_job.setdefault(j, []).append(var)
        by_pool.setdefault(p, []).append((j, var))
    for vars_ in by_job.values():
        m.add_at_most_one(vars_)
    for p, members in by_pool.items():
        for d in range(pr.free.shape[1]):
            terms = [(int(pr.demand[j, d]), v) for j, v in members if pr.demand[j, d]]
            if sum(n for n, _ in terms) > pr.free[p, d]:  # only constraints that can bind
                m.add(sum(n * v for n, v in terms) <= int(pr.free[p, d]))
    for (j, p), var in x.items():
        m.add_hint(var, hint[j] == p)

    placed = sum(x.values())
    fairness = sum(pr.rank[j] * v for (j, _), v in x.items())
    total = sum(c * x[jp] for jp, c in costs.items())
    deadline = time.perf_counter() + time_limit
    proved = True
    best = None
    for goal, maximise in ((placed, True), (fairness, False), (total, False)):
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.1, deadline - time.perf_counter())
        solver.parameters.num_workers = workers
        (m.maximize if maximise else m.minimize)(goal)
        status = solver.solve(m)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            proved = False
            break
        proved &= status == cp_model.OPTIMAL
        value = int(round(solver.objective_value))
        # Freeze this goal at the value reached, hint the next solve with this solution.
        m.add(goal >= value) if maximise else m.add(goal <= value)
        m.clear_hints()
        best = [-1] * len(pr.jobs)
        for (j, p), var in x.items():
            on = solver.boolean_value(var)
            m.add_hint(var, on)
            if on:
                best[j] = p
    if best is None or _key(pr, hint, costs) < _key(pr, best, costs):
        return hint, False
    return best, proved
