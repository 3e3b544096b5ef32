"""The fast assignment: vectorised filter and score, regret-ordered greedy, then repair.

Scale comes from never touching every (job, pool) pair in Python:

- Jobs are grouped by **class**: (residency, arch, accelerator types, data region). Those four
  decide which pools pass the filters, so each class filters the pool arrays once, with numpy.
- Costs are scored for a chunk of a class's jobs at once (a jobs x pools matrix). Each job keeps
  only its ``top_m`` cheapest pools that are large enough (all of them for small problems),
  sorted by (cost, pool position).
- The greedy places jobs in order of **regret** (what losing the cheapest pool would cost:
  second cheapest minus cheapest; a job with one pool first, as its regret is unbounded) on the
  cheapest of its pools with room. A job whose kept pools are all full searches all its class's
  pools against the free capacity (rare; vectorised).
- Repair, all moves that keep capacities: insert an unplaced job by moving one placed job out of
  its way (ejection chain of depth 1; more jobs placed), swap an unplaced job for a placed job of
  higher fair-share rank (same count, fairer), move a job to a cheaper pool with room, and swap
  two jobs' pools when it lowers cost; repeated while something improves and the budget allows.

The plan's lexicographic goal is the exact mode's (more placed, then fairer, then cheaper); how far
it lands from CP-SAT's optimum is measured in tests and ``bench/scheduler.py``, not assumed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence

import numpy as np

from suanshu.compute.scheduler import (
    CAPACITY, NO_ACCELERATOR, NO_ARCH, NO_REGION, TOO_LARGE, UNREACHABLE, JobSpec, Placement, PoolSpec,
    Resources, Schedule, Unplaced, cost_breakdown, fair_ranks, where,
)

LNS_ROUNDS = 300  # ruin-and-recreate rounds on small problems (deterministic, seeded)
LNS_PATIENCE = 60  # ... stopping after this many rounds without a strictly better plan
AUGMENT_DEPTH = 3  # moves in an ejection chain (small problems)
# Ejection-chain steps one search may take (each step tries every resident of a pool): a bound on
# work that keeps the plan deterministic, unlike a clock. An over-subscribed network re-explored
# the same failing chains in every repair of every ruin-and-recreate round: 120 jobs on 20 pools
# ran for over ten minutes. The benchmark's networks (bench/scheduler.py) take at most ~75,000,
# so their plans are unchanged; tighter bounds lost a job there.
CHAIN_STEPS = 100_000
LNS_SEEDS = 4  # independent ruin-and-recreate searches from the best greedy start
TOP_M = 32  # pools kept per job on large problems
LOOKAHEAD = 32  # jobs of a class whose pools with room are looked up together once their kept pools are full
_CHUNK_CELLS = 1 << 21  # jobs x pools scored per numpy batch (~16 MB of float64)


class Problem:
    """Pools and jobs as arrays, each job's feasible pools with costs, and the free capacity."""

    def __init__(self, pools: Sequence[PoolSpec], jobs: Sequence[JobSpec],
                 capacity: Sequence[Resources] | None = None, top_m: int | None = None,
                 running: Mapping[str, int] | None = None):
        self.pools, self.jobs = list(pools), list(jobs)
        P, J = len(self.pools), len(self.jobs)
        if top_m is None and P * J > 1_000_000:
            top_m = TOP_M
        self.top_m = top_m
        self.rank = fair_ranks(self.jobs, running)
        self._region_ix = {}
        for p in self.pools:
            for r in (p.region, *p.transfer_fen_per_gb):
                self._region_ix.setdefault(r, len(self._region_ix))
        self.types = sorted({t for p in self.pools for t, _ in p.capacity.accelerators}
                            | {t for j in self.jobs for t, _ in j.per_node.accelerators})
        ti = {t: i for i, t in enumerate(self.types)}
        self.region = np.array([self._region_ix[p.region] for p in self.pools], dtype=np.int64)
        self.arch = np.array([p.arch for p in self.pools], dtype=object)
        cap = capacity if capacity is not None else [p.capacity for p in self.pools]
        self.size = self._resource_matrix([p.capacity for p in self.pools], ti)  # static: filters
        self.free = self._resource_matrix(cap, ti)  # dynamic: what assignment may use
        self.price = np.zeros((P, 2 + len(self.types)))
        for i, p in enumerate(self.pools):
            self.price[i, 0], self.price[i, 1] = p.cpu_hour, p.memory_gb_hour
            for t, fen in p.accelerator_hour.items():
                self.price[i, 2 + ti[t]] = fen
        self.transfer = np.full((P, max(1, len(self._region_ix))), np.nan)
        for i, p in enumerate(self.pools):
            for r, fen in p.transfer_fen_per_gb.items():
                self.transfer[i, self._region_ix[r]] = fen
            if np.isnan(self.transfer[i, self.region[i]]):
                self.transfer[i, self.region[i]] = 0  # a pool always reaches its own region
        # Jobs: total demand (nodes x per node) as a matrix row per job, and their score inputs.
        nodes = np.array([j.nodes for j in self.jobs], dtype=np.int64)
        self.demand = self._resource_matrix([j.per_node for j in self.jobs], ti) * nodes[:, None]
        # n / d is what float(Fraction) computes, without its slower generic dispatch
        self.hours = np.array([j.hours.numerator / j.hours.denominator for j in self.jobs])
        self.gb = np.array([j.data_gb.numerator / j.data_gb.denominator for j in self.jobs])
        # (dimension, amount) for the dimensions each job uses, as Python ints for the greedy's hot checks
        self.dem = [[(d, n) for d, n in enumerate(row) if n] for row in self.demand.tolist()]
        self.cands: list[dict[int, float]] = [{} for _ in range(J)]  # pool -> cost, cheapest first
        self.more = np.zeros(J, dtype=bool)  # pools beyond top_m exist
        self.reason: dict[int, tuple[str, str]] = {}  # statically infeasible jobs
        self._classes: dict[tuple, list[int]] = {}
        self.class_of: list[tuple] = []
        for j, job in enumerate(self.jobs):
            key = (job.residency, job.arch, tuple(t for t, _ in job.per_node.accelerators), job.data_region)
            self._classes.setdefault(key, []).append(j)
            self.class_of.append(key)
        self._class_pools: dict[tuple, np.ndarray] = {}
        for key, members in self._classes.items():
            self._score_class(key, members)

    @staticmethod
    def _resource_matrix(items: Sequence[Resources], ti: dict[str, int]) -> np.ndarray:
        m = np.zeros((len(items), 2 + len(ti)), dtype=np.int64)
        for i, r in enumerate(items):
            m[i, 0], m[i, 1] = r.cpu, r.memory_gb
            for t, c in r.accelerators:
                m[i, 2 + ti[t]] = c
        return m

    # -- filter and score ---------------------------------------------------------------------

    def _filter_class(self, key, job: JobSpec) -> tuple[np.ndarray, str | None, str | None]:
        """The class's pools after residency, arch, accelerator type and reachability, or why none."""
        residency, arch, types, data_region = key
        mask = np.ones(len(self.pools), dtype=bool)
        if residency:
            mask &= np.isin(self.region, [self._region_ix.get(r, -1) for r in residency])
            if not mask.any():
                return mask, NO_REGION, f"no pool {where(job)}"
        if arch:
            mask &= np.isin(self.arch, list(arch))
            if not mask.any():
                return mask, NO_ARCH, f"no {'/'.join(sorted(arch))} pool {where(job)}"
        for t in types:
            mask &= self.size[:, 2 + self.types.index(t)] > 0
            if not mask.any():
                return mask, NO_ACCELERATOR, f"no pool with {t} {where(job)}"
        if data_region is not None:
            col = self._region_ix.get(data_region)
            mask &= False if col is None else ~np.isnan(self.transfer[:, col])
            if not mask.any():
                return mask, UNREACHABLE, (f"no pool {where(job)} can receive data from {data_region} "
                                           "(no transfer_fen_per_gb entry for it)")
        return mask, None, None

    def _costs(self, js: np.ndarray, E: np.ndarray, data_region: str | None) -> np.ndarray:
        """Cost of jobs ``js`` on pools ``E`` (float64 holding whole fen; rounding as in cost_breakdown)."""
        hourly = self.demand[js].astype(np.float64) @ self.price[E].T
        cost = np.floor(self.hours[js, None] * hourly + 0.5)
        if data_region is not None:
            cost += np.floor(self.gb[js, None] * self.transfer[E, self._region_ix[data_region]][None, :] + 0.5)
        return cost

    def _fits(self, js: np.ndarray, E: np.ndarray, cap: np.ndarray, dims: list[int]) -> np.ndarray:
        """Jobs x pools: does the job fit the pool's ``cap``? Only ``dims`` (those the class uses)
        are compared, one 2-d comparison each: several times faster than one 3-d broadcast."""
        ok = np.ones((len(js), len(E)), dtype=bool)
        for d in dims:
            ok &= cap[E, d][None, :] >= self.demand[js, d][:, None]
        return ok

    def _dims(self, key) -> list[int]:
        """The resource dimensions a class's jobs use: cpu, memory and its accelerator types."""
        return [0, 1] + [2 + self.types.index(t) for t in key[2]]

    def _top(self, js: np.ndarray, E: np.ndarray, cap: np.ndarray, key, m: int):
        """For jobs ``js``: their ``m`` cheapest pools of ``E`` that fit ``cap``, by (cost, pool position).

        Returns (positions in E per row, cost matrix, count of pools that fit per row)."""
        cost = self._costs(js, E, key[3])
        ok = self._fits(js, E, cap, self._dims(key))
        cost[~ok] = np.inf
        if m < len(E):
            part = np.argpartition(cost, m - 1, axis=1)[:, :m]
        else:
            part = np.broadcast_to(np.arange(len(E)), cost.shape)
        part_cost = np.take_along_axis(cost, part, axis=1)
        order = np.lexsort((E[part], part_cost), axis=1)  # by cost, then pool position
        return np.take_along_axis(part, order, axis=1), cost, ok.sum(axis=1)

    def _score_class(self, key, members: list[int]) -> None:
        mask, code, text = self._filter_class(key, self.jobs[members[0]])
        if code:
            for j in members:
                self.reason[j] = (code, text)
            return
        E = np.flatnonzero(mask)
        self._class_pools[key] = E
        m = len(E) if self.top_m is None else min(self.top_m, len(E))
        step = max(1, _CHUNK_CELLS // (len(E) * (2 + len(self.types))))
        for lo in range(0, len(members), step):
            js = np.array(members[lo:lo + step])
            best, cost, n_ok = self._top(js, E, self.size, key, m)
            # whole matrices to Python lists once: per-row numpy slicing costs more than the dicts
            pools, costs = E[best].tolist(), np.take_along_axis(cost, best, axis=1).tolist()
            for row, (j, k) in enumerate(zip(js.tolist(), n_ok.tolist())):
                if k == 0:
                    self.reason[j] = self._too_large(j, E)
                    continue
                self.cands[j] = dict(zip(pools[row][:k], costs[row][:k]))
                self.more[j] = k > m

    def _too_large(self, j: int, E: np.ndarray) -> tuple[str, str]:
        job = self.jobs[j]
        biggest = self.pools[int(E[np.argmax(self.size[E, 0])])]
        gang = f" ({job.nodes} nodes)" if job.nodes > 1 else ""
        return TOO_LARGE, (f"too large for every pool that passes the filters{gang}: e.g. {biggest.id}: "
                           + ", ".join(job.demand.shortfall(biggest.capacity)))

    def pair_count(self) -> int:
        """Feasible (job, pool) pairs: what an exact model would have to decide."""
        if self.top_m is None:
            return sum(len(c) for c in self.cands)
        return sum(len(self._class_pools.get(k, ())) * len(ms) for k, ms in self._classes.items())

    def search_with_room(self, js: list[int], free: np.ndarray) -> list[tuple[list[tuple[int, float]], bool]]:
        """For jobs of one class whose kept pools are full: each one's ``top_m`` cheapest pools of the
        class with room now (by cost, then position), and whether that list holds every such pool.

        One numpy pass for a batch of jobs: about 40% of the jobs of a large, loaded network come here."""
        key = self.class_of[js[0]]
        E, dims = self._class_pools[key], self._dims(key)
        least = self.demand[js][:, dims].min(axis=0)
        E = E[(free[E][:, dims] >= least).all(axis=1)]  # pools with room for the smallest of these jobs
        m = min(self.top_m or len(E), len(E))
        if m == 0:
            return [([], True)] * len(js)
        best, cost, n_ok = self._top(np.array(js), E, free, key, m)
        pools, costs = E[best].tolist(), np.take_along_axis(cost, best, axis=1).tolist()
        return [(list(zip(pools[row][:k], costs[row][:k])), k <= m) for row, k in enumerate(n_ok.tolist())]

    # -- result -------------------------------------------------------------------------------

    def result(self, assign: list[int], mode: str, optimal: bool | None, *, explain: bool = True) -> Schedule:
        free = self.free.copy()
        for j, p in enumerate(assign):
            if p >= 0:
                free[p] -= self.demand[j]
        assert (free >= 0).all(), "a plan exceeded a pool's capacity"
        placements, unplaced = [], []
        for j, job in enumerate(self.jobs):
            p = assign[j]
            if p >= 0:
                pool = self.pools[p]
                bd = cost_breakdown(job, pool)
                placements.append(Placement(job.id, pool.id, bd["cost"], bd if explain else None,
                                            self._why(j, p, free) if explain else None))
            elif j in self.reason:
                unplaced.append(Unplaced(job.id, *self.reason[j]))
            else:
                names = [self.pools[q].id for q in list(self.cands[j])[:5]]
                n = len(self.cands[j]) if not self.more[j] else f"{len(self.cands[j])}+"
                unplaced.append(Unplaced(job.id, CAPACITY, (
                    f"capacity exhausted on feasible pools [{', '.join(names)}{', …' if len(self.cands[j]) > 5 else ''}]"
                    f" ({n} feasible; placing it would have displaced a job of equal or higher priority)")))
        stats = {"jobs": len(self.jobs), "pools": len(self.pools), "placed": len(placements),
                 "fair_rank_sum": sum(self.rank[j] for j, p in enumerate(assign) if p >= 0)}
        return Schedule(placements, unplaced, mode, optimal, stats)

    def _why(self, j: int, p: int, free: np.ndarray) -> str:
        cands = self.cands[j]
        cheaper = [q for q, c in cands.items() if c < cands[p]]
        if not cheaper:
            if len(cands) == 1 and not self.more[j]:
                return "the only feasible pool"
            return f"cheapest of {len(cands)}{'+' if self.more[j] else ''} feasible pools"
        full = [q for q in cheaper if not (free[q] >= self.demand[j]).all()]
        text = ", ".join(f"{self.pools[q].id} ({int(cands[q])} fen)" for q in cheaper[:3])
        if len(full) == len(cheaper):
            return f"cheaper feasible pools had no room left in this plan: {text}"
        return f"cheaper pools with room exist ({text}); kept by the {len(cheaper) - len(full)} move(s) the heuristic missed"


# -- assign ------------------------------------------------------------------------------------------

def solve(problem: Problem, budget_s: float | None = None, starts: int | None = None) -> list[int]:
    """A plan: ``assign[j]`` is a pool index or -1. ``budget_s`` caps the repair phase.

    Small problems try three greedy starts (regret first: good for cost; small jobs first: good for
    count when capacity is short; LP rounding: sees the whole packing) and keep the best after repair,
    then run ``LNS_SEEDS`` ruin-and-recreate searches from it; large ones use regret only.
    """
    if starts is None:
        starts = 2 if len(problem.jobs) * len(problem.pools) <= 1_000_000 else 1
    best, best_key = None, None
    end = None if budget_s is None else time.perf_counter() + budget_s  # one budget for all starts
    for order in ("regret", "small", "lp")[:starts + (starts > 1)]:
        g = _Greedy(problem, None if end is None else max(0.0, end - time.perf_counter()))
        plan = g.run(order, light=starts == 1)
        key = g.key()
        if best_key is None or key < best_key:
            best, best_key, kept = plan, key, g
    if starts > 1:
        # a few independent searches from the best start: one seed alone stalls a job short at times
        for seed in range(LNS_SEEDS):
            kept._load(best)
            kept.ruin_and_recreate(rounds=LNS_ROUNDS, seed=seed)
            if seed == 0 or kept.key() < best_key:  # the first search's plan stands unless beaten
                best, best_key = list(kept.assign), kept.key()
    return best


class _Greedy:
    def __init__(self, pr: Problem, budget_s: float | None):
        self.pr = pr
        self.free = pr.free.copy()
        J = len(pr.jobs)
        self.assign = [-1] * J
        self.residents: list[set[int]] = [set() for _ in pr.pools]
        self.deadline = None if budget_s is None else time.perf_counter() + budget_s
        self.rows = self.free.tolist()  # the same free capacity as Python ints, for the hot checks
        self.chain_steps = CHAIN_STEPS  # left for this search's ejection chains
        self.failed: dict[tuple, list[np.ndarray]] = {}  # class -> demands its full search did not fit
        # Jobs whose kept pools were full: their cheapest pools with room when looked up (valid while
        # jobs are only added: a pool without room then has none later; take clears them).
        self.extra: dict[int, tuple[list[tuple[int, float]], bool]] = {}
        self.upcoming: dict[tuple, list[int]] = {}  # class -> its jobs with more pools, in greedy order
        self.position: dict[int, int] = {}  # job -> its index in upcoming
        # Plain lists: scalar access to Python ints is several times faster than to numpy scalars.
        self.dem = pr.dem

    def over(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def fits(self, j: int, p: int) -> bool:
        row = self.rows[p]
        for d, n in self.dem[j]:
            if row[d] < n:
                return False
        return True

    def fits_without(self, j: int, p: int, v: int) -> bool:
        """Would j fit on p if v left it?"""
        row, vd = self.free[p], self.pr.demand[v]
        return all(row[d] + vd[d] >= n for d, n in self.dem[j])

    def put(self, j: int, p: int) -> None:
        assert self.assign[j] < 0, "placing a job twice"
        self.assign[j] = p
        self.residents[p].add(j)
        row = self.rows[p]
        for d, n in self.dem[j]:
            self.free[p, d] -= n
            row[d] -= n

    def take(self, j: int) -> int:
        self.failed.clear()
        self.extra.clear()
        p = self.assign[j]
        self.assign[j] = -1
        self.residents[p].discard(j)
        row = self.rows[p]
        for d, n in self.dem[j]:
            self.free[p, d] += n
            row[d] += n
        return p

    def key(self) -> tuple:
        """The lexicographic goal: more placed, then smaller fair-share rank sum, then cheaper."""
        placed = [(j, p) for j, p in enumerate(self.assign) if p >= 0]
        return (-len(placed), sum(self.pr.rank[j] for j, _ in placed),
                sum(self.pr.cands[j][p] for j, p in placed))

    def run(self, order: str = "regret", light: bool = False) -> list[int]:
        """Greedy, then repair. ``light`` (large problems): one pass of direct inserts and moves to
        cheaper pools, no room-making chains or swaps, which cost a scan of pools' residents."""
        pr = self.pr
        jobs = [j for j in range(len(pr.jobs)) if pr.cands[j]]
        if order == "regret":
            regret = {}
            for j in jobs:
                costs = list(pr.cands[j].values())
                regret[j] = costs[1] - costs[0] if len(costs) > 1 else float("inf")
            # Highest regret first; among equals, higher fair-share priority, then input order.
            jobs.sort(key=lambda j: (-regret[j], pr.rank[j], j))
        elif order == "lp":
            self.place_lp_guided(jobs)
            jobs = []
        else:
            total = np.maximum(pr.free.sum(axis=0), 1)
            share = (pr.demand / total).max(axis=1)  # dominant share of the whole network
            jobs.sort(key=lambda j: (share[j], pr.rank[j], j))
        self.upcoming.clear()
        for j in jobs:
            if pr.more[j]:
                queue = self.upcoming.setdefault(pr.class_of[j], [])
                self.position[j] = len(queue)
                queue.append(j)
        for j in jobs:
            self.place_cheapest(j)
        if light:
            # No insert pass: a job the greedy could not place finds no more room now, since
            # capacity only shrank after it was tried; only moves to cheaper pools remain.
            self.improve_cost(swaps=False, passes=1)
        else:
            self.repair()
            if self.insert_by_clearing():  # the big jobs the greedy and the cheap repairs left waiting
                self.repair()
        return self.assign

    def repair(self, focus: set[int] | None = None) -> None:
        for _ in range(10):
            changed = self.insert_unplaced(focus)
            changed |= self.augment()
            changed |= self.trade_one_for_two()
            changed |= self.fair_swaps()
            changed |= self.improve_cost()
            if not changed or self.over():
                break

    def ruin_and_recreate(self, rounds: int, seed: int = 0) -> None:
        """Large-neighbourhood search (Schrimpf et al., 2000): empty a few pools, refill, keep if not worse.

        The pools emptied are those a waiting job could use (to find room for it) or random ones.
        """
        rng = random.Random(seed)
        best_key, best = self.key(), list(self.assign)
        stale = 0
        n_pools = len(self.pr.pools)
        for _ in range(rounds):
            if self.over():
                break
            waiting = self.unplaced()
            chosen = set()
            if waiting and rng.random() < 0.7:
                chosen.update(rng.sample(list(self.pr.cands[rng.choice(waiting)]), k=1))
            while len(chosen) < min(n_pools, rng.choice((2, 3, 4))):
                chosen.add(rng.randrange(n_pools))
            out = [v for p in chosen for v in list(self.residents[p])]
            for v in out:
                self.take(v)
            redo = self.unplaced()  # the jobs just taken out and those still waiting
            rng.shuffle(redo)
            if rng.random() < 0.5:
                redo.sort(key=lambda j: -self.pr.demand[j].sum() * rng.random())  # big jobs tend to go first
            else:  # small jobs first (by dominant share of the ruined pools): more of them fit
                room = np.maximum(sum(self.pr.free[p] for p in chosen), 1)
                redo.sort(key=lambda j: (self.pr.demand[j] / room).max() * (0.5 + rng.random()))
            for j in redo:
                self.place_cheapest(j)
            self.repair(focus=chosen)
            key = self.key()
            stale = 0 if key < best_key else stale + 1
            if key <= best_key:
                best_key, best = key, list(self.assign)
            else:
                self._load(best)
            if stale >= LNS_PATIENCE:
                break

    def _load(self, assign: list[int]) -> None:
        self.failed.clear()
        self.extra.clear()
        self.free = self.pr.free.copy()
        self.rows = self.free.tolist()
        self.assign = [-1] * len(assign)
        self.residents = [set() for _ in self.pr.pools]
        for j, p in enumerate(assign):
            if p >= 0:
                self.put(j, p)

    def place_cheapest(self, j: int) -> bool:
        rows, dem = self.rows, self.dem[j]
        for p in self.pr.cands[j]:  # the hot loop at scale: fits() inlined
            row = rows[p]
            for d, n in dem:
                if row[d] < n:
                    break
            else:
                self.put(j, p)
                return True
        if self.pr.more[j]:
            # While jobs are only added, a class whose search failed for demand d fails for any
            # demand >= d: remember failures until a job leaves a pool (take clears them).
            key = self.pr.class_of[j]
            dj = self.pr.demand[j]
            if any((dj >= d).all() for d in self.failed.get(key, ())):
                return False
            while True:
                if j not in self.extra:
                    self._look_up(j)
                found, complete = self.extra.pop(j)
                for p, c in found:
                    row = rows[p]
                    if all(row[d] >= n for d, n in dem):
                        self.pr.cands[j][p] = c
                        self.put(j, p)
                        return True
                if complete:  # no pool of the class has room for it
                    break
            self.failed.setdefault(key, []).append(dj)
        return False

    def _look_up(self, j: int) -> None:
        """Find pools with room for j and, in the same numpy pass, for the next jobs of its class in
        the greedy's order (one pass per ``LOOKAHEAD`` jobs instead of one per job)."""
        batch = [j]
        queue = self.upcoming.get(self.pr.class_of[j])
        if queue and j in self.position:
            i = self.position[j]
            batch += [k for k in queue[i + 1:i + LOOKAHEAD] if self.assign[k] < 0 and k not in self.extra]
        for k, found in zip(batch, self.pr.search_with_room(batch, self.free)):
            self.extra[k] = found

    def place_lp_guided(self, jobs: list[int]) -> None:
        """LP rounding (small problems): solve the relaxation of "place the most jobs, then cheapest"
        with GLOP, then place jobs in order of their LP value on the pool the LP gave them most of.

        Multi-dimensional packing defeats cost- and size-ordered greedies now and then (a job or
        two short of the optimum); the relaxation sees the whole packing at once."""
        from ortools.linear_solver import pywraplp

        pr = self.pr
        lp = pywraplp.Solver.CreateSolver("GLOP")
        top = max((c for j in jobs for c in pr.cands[j].values()), default=1) or 1
        x = {(j, p): lp.NumVar(0, 1, "") for j in jobs for p in pr.cands[j]}
        for j in jobs:
            lp.Add(sum(x[j, p] for p in pr.cands[j]) <= 1)
        by_pool: dict[int, list[int]] = {}
        for j, p in x:
            by_pool.setdefault(p, []).append(j)
        for p, js in by_pool.items():
            for d in range(pr.free.shape[1]):
                if any(pr.demand[j, d] for j in js):
                    lp.Add(sum(float(pr.demand[j, d]) * x[j, p] for j in js) <= float(pr.free[p, d]))
        # one more job is worth more than any saving: costs are scaled below 1 per job
        lp.Maximize(sum(v * (1 - 0.5 * pr.cands[j][p] / top) for (j, p), v in x.items()))
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            for j in jobs:
                self.place_cheapest(j)
            return
        value = {k: v.solution_value() for k, v in x.items()}
        mass = {j: sum(value[j, p] for p in pr.cands[j]) for j in jobs}
        for j in sorted(jobs, key=lambda j: (-mass[j], pr.rank[j], j)):
            for p in sorted(pr.cands[j], key=lambda p: (-value[j, p], pr.cands[j][p])):
                if self.fits(j, p):
                    self.put(j, p)
                    break

    def unplaced(self) -> list[int]:
        return [j for j in range(len(self.pr.jobs)) if self.assign[j] < 0 and self.pr.cands[j]]

    def insert_unplaced(self, focus: set[int] | None = None) -> bool:
        """Place waiting jobs directly, or by moving placed jobs off one pool to others with room.

        ``focus``: only try to make room on these pools (the ones a search step just changed).
        """
        changed = False
        for u in sorted(self.unplaced(), key=lambda u: self.pr.rank[u]):
            if self.over():
                break
            if self.place_cheapest(u):
                changed = True
                continue
            best = None
            for p, cost_u in self.pr.cands[u].items():
                if focus is not None and p not in focus:
                    continue
                moves = self._make_room(u, p)
                if moves is not None:
                    delta = cost_u + sum(d for d, _, _ in moves)
                    if best is None or delta < best[0]:
                        best = (delta, p, moves)
            if best:
                _, p, moves = best
                for _, v, q in moves:
                    self.take(v)
                    self.put(v, q)
                self.put(u, p)
                changed = True
        return changed

    def _make_room(self, u: int, p: int) -> list[tuple[float, int, int]] | None:
        """Moves (cost delta, job, to pool) of jobs on p to other pools with room so that u fits on p.

        Residents move in order of how little their move costs; a plan, not yet applied.
        """
        need = self.pr.demand[u]
        room = self.free[p].copy()
        if not (need <= room + sum((self.pr.demand[v] for v in self.residents[p]), np.zeros_like(room))).all():
            return None
        options = []
        for v in self.residents[p]:
            if not (self.pr.demand[v][need > room] > 0).any():
                continue  # moving v frees nothing u is short of
            cv = self.pr.cands[v]
            for q in cv:
                if q != p and self.fits(v, q):
                    options.append((cv[q] - cv[p], v, q))
                    break
        options.sort()
        taken: dict[int, np.ndarray] = {}  # room used on target pools by this plan
        moves = []
        for delta, v, q in options:
            dv = self.pr.demand[v]
            if not (self.free[q] - taken.get(q, 0) >= dv).all():
                continue
            taken[q] = taken.get(q, 0) + dv
            room = room + dv
            moves.append((delta, v, q))
            if (room >= need).all():
                return moves
        return None

    def augment(self, depth: int = AUGMENT_DEPTH) -> bool:
        """Ejection chains: place a waiting job on a pool by moving one resident out, which moves
        into another pool the same way, up to ``depth`` moves; the first chain that ends on a pool
        with room places one more job (an augmenting path, as in matching). Count first: the cost
        of the chain is left to the cost moves."""
        changed = False
        for u in sorted(self.unplaced(), key=lambda u: self.pr.rank[u]):
            if self.over():
                break
            if self._chain(u, depth, {u}):
                changed = True
        return changed

    def insert_by_clearing(self) -> bool:
        """A waiting job too big for the room a few moves make: empty one of its pools for it, then
        put the jobs taken out back elsewhere: by ejection chains, or by emptying one of their pools
        in turn (two levels). Kept when the plan is better (usually one more job placed), undone
        otherwise."""
        changed = False
        for u in sorted(self.unplaced(), key=lambda u: self.pr.rank[u]):
            for p in self.pr.cands[u]:
                if self.over() or self.assign[u] >= 0:
                    break
                before, saved = self.key(), list(self.assign)
                self._clear_insert(u, p, levels=1)
                if self.key() < before:
                    changed = True
                else:
                    self._load(saved)
        return changed

    def _clear_insert(self, u: int, p: int, levels: int) -> None:
        """Take every job off p, put u there if it then fits, and re-place those taken (the caller
        judges the outcome and undoes it if worse)."""
        out = sorted(self.residents[p], key=lambda v: -self.pr.demand[v].sum())
        for v in out:
            self.take(v)
        if not self.fits(u, p):
            for v in out:
                self.put(v, p)
            return
        self.put(u, p)
        for v in out:
            if self._chain(v, 2 if levels else 1, {u, v}) or not levels:
                continue
            for q in self.pr.cands[v]:
                if q == p or self.over():
                    continue
                placed, saved = len(self.pr.jobs) - self.assign.count(-1), list(self.assign)
                self._clear_insert(v, q, levels - 1)
                if len(self.pr.jobs) - self.assign.count(-1) > placed:
                    break  # v is back in, and nobody lost a place
                self._load(saved)

    def _chain(self, u: int, depth: int, moved: set[int]) -> bool:
        """Place u (not placed now), ejecting at most ``depth`` jobs along a chain; undone on failure."""
        for p in self.pr.cands[u]:
            if self.fits(u, p):
                self.put(u, p)
                return True
        if depth == 0 or self.chain_steps <= 0:
            return False
        self.chain_steps -= 1
        for p in self.pr.cands[u]:
            for v in sorted(self.residents[p], key=lambda v: -self.pr.demand[v].sum()):
                if v in moved or not self.fits_without(u, p, v):
                    continue
                self.take(v)
                self.put(u, p)
                if self._chain(v, depth - 1, moved | {v}):
                    return True
                self.take(u)
                self.put(v, p)
        return False

    def trade_one_for_two(self) -> bool:
        """Unplace one job if two or more waiting jobs fit in the room it leaves (one more placed)."""
        waiting: dict[int, list[int]] = {}
        for u in self.unplaced():
            for p in self.pr.cands[u]:
                waiting.setdefault(p, []).append(u)
        changed = False
        for p, us in waiting.items():
            if self.over():
                break
            us = [u for u in us if self.assign[u] < 0]
            if len(us) < 2:
                continue
            us.sort(key=lambda u: (self.pr.demand[u].sum(), self.pr.rank[u]))
            for v in sorted(self.residents[p], key=lambda v: -self.pr.demand[v].sum()):
                room = self.free[p] + self.pr.demand[v]
                fit = []
                for u in us:
                    if (room >= self.pr.demand[u]).all():
                        room = room - self.pr.demand[u]
                        fit.append(u)
                if len(fit) >= 2:
                    self.take(v)
                    for u in fit:
                        self.put(u, p)
                    changed = True
                    break
        return changed

    def fair_swaps(self) -> bool:
        """Capacity is short: give a pool's place to a waiting job of better fair-share rank."""
        changed = False
        rank = self.pr.rank
        for u in sorted(self.unplaced(), key=lambda u: rank[u]):
            if self.over():
                break
            best = None
            for p, cost_u in self.pr.cands[u].items():
                for v in self.residents[p]:
                    if rank[v] > rank[u] and self.fits_without(u, p, v):
                        key = (-rank[v], cost_u - self.pr.cands[v][p])
                        if best is None or key < best[0]:
                            best = (key, p, v)
            if best:
                _, p, v = best
                self.take(v)
                self.put(u, p)
                changed = True
        return changed

    def improve_cost(self, swaps: bool = True, passes: int = 1000) -> bool:
        """Move jobs to cheaper pools with room, and swap pairs of jobs when that is cheaper."""
        changed = True
        any_change = False
        pr = self.pr
        while changed and passes > 0 and not self.over():
            passes -= 1
            changed = False
            for j in range(len(pr.jobs)):
                p = self.assign[j]
                if p < 0:
                    continue
                cj = pr.cands[j]
                for q, c in cj.items():
                    if c >= cj[p]:
                        break
                    if self.fits(j, q):
                        self.take(j)
                        self.put(j, q)
                        changed = any_change = True
                        break
                    if swaps and self._swap_into(j, p, q):
                        changed = any_change = True
                        break
        return any_change

    def _swap_into(self, j: int, p: int, q: int) -> bool:
        """Swap j (on p) with some k on q when both fit afterwards and the total cost drops."""
        cj = self.pr.cands[j]
        dj, fp, fq = self.pr.demand[j], self.free[p], self.free[q]
        for k in self.residents[q]:
            ck = self.pr.cands[k]
            if p not in ck:
                continue
            if cj[q] + ck[p] - cj[p] - ck[q] >= 0:
                continue
            dk = self.pr.demand[k]
            if (fq + dk >= dj).all() and (fp + dj >= dk).all():
                self.take(j)
                self.take(k)
                self.put(j, q)
                self.put(k, p)
                return True
        return False
