"""The scheduler (算力调度), pure: pools and jobs in, placements and reasons out.

Filter -> score -> assign, as in the Kubernetes scheduler and SkyPilot's optimizer:

1. **Filter** (static, per job, in this order; the first filter that leaves no pool is the
   reason a job cannot run anywhere): residency (pool region in ``job.residency``), architecture
   (pool arch in ``job.arch``), accelerator type, data reachability (the pool's
   ``transfer_fen_per_gb`` names the data's region; a pool always reaches its own region, at
   the listed price or 0), size (``nodes`` x the per-node request fits the pool's whole capacity).
2. **Score**: the cost of the job on the pool, exactly as issue 6 defines it (``cost_breakdown``).
3. **Assign** (``exact.py`` with CP-SAT, ``heuristic.py`` for large batches), lexicographically:
   (a) place as many jobs as capacity allows, (b) fair share between buyers, (c) least total
   cost. Capacities (cpu, memory, each accelerator type) are never exceeded.

**Gang jobs**: ``nodes: n`` asks for n copies of the per-node resources. A pool is one cluster
with aggregate capacity (the pool shape has no machine sizes), so a gang runs whole on one pool
(one interconnect, one bill) or not at all; a placement is always one job on one pool.

**Fair share** (when capacity is short): each job has a rank among its buyer's jobs, in input
order (0 for a buyer's first job; jobs without ``buyer`` share one anonymous buyer). Among the
plans that place the most jobs, the scheduler picks one with the least sum of ranks of placed
jobs, then the cheapest. For equal-sized jobs this is max-min (water-filling) fairness by job
count: a buyer's (k+1)-th job runs only if no other buyer is left with fewer than k placed while
it still has jobs waiting. It counts jobs, not resource shares (DRF would weight by size).

**Money**: integer fen. ``hours`` and ``data.gb`` may be fractional (read exactly from their
decimal text); the compute part ``hours x fen_per_hour`` and the transfer part
``gb x fen_per_gb`` are each rounded half up to a fen, once, and the cost is their sum, so a
breakdown always adds up to the cost and costs add up to ``total_cost``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from suanshu.compute.pools import ARCHS, parse_pool
from suanshu.core.errors import UsageError

EXACT_MAX_PAIRS = 20_000  # mode="auto": CP-SAT when the job x feasible-pool pairs fit this (proves ~150x30 fast)

# Reason codes for unplaced jobs, in filter order (the first filter that empties the pool list wins).
NO_REGION = "schedule.no_pool_in_region"
NO_ARCH = "schedule.no_pool_with_arch"
NO_ACCELERATOR = "schedule.no_pool_with_accelerator"
UNREACHABLE = "schedule.data_unreachable"
TOO_LARGE = "schedule.too_large"
CAPACITY = "schedule.capacity_exhausted"


# -- value objects ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Resources:
    """A bundle of resources (SkyPilot's ``Resources``, reduced to what pools sell)."""

    cpu: int = 0
    memory_gb: int = 0
    accelerators: tuple[tuple[str, int], ...] = ()  # sorted (type, count), counts > 0

    @staticmethod
    def of(cpu: int = 0, memory_gb: int = 0, accelerators: Mapping[str, int] | None = None) -> Resources:
        return Resources(cpu, memory_gb, tuple(sorted((t, n) for t, n in (accelerators or {}).items() if n)))

    def __mul__(self, n: int) -> Resources:
        return Resources(self.cpu * n, self.memory_gb * n, tuple((t, c * n) for t, c in self.accelerators))

    def __add__(self, other: Resources) -> Resources:
        acc = dict(self.accelerators)
        for t, c in other.accelerators:
            acc[t] = acc.get(t, 0) + c
        return Resources.of(self.cpu + other.cpu, self.memory_gb + other.memory_gb, acc)

    def __sub__(self, other: Resources) -> Resources:
        return self + other * -1

    def fits_in(self, cap: Resources) -> bool:
        have = dict(cap.accelerators)
        return (self.cpu <= cap.cpu and self.memory_gb <= cap.memory_gb
                and all(c <= have.get(t, 0) for t, c in self.accelerators))

    def shortfall(self, cap: Resources) -> list[str]:
        """What does not fit, for people: ``["cpu 256 > 192", "ascend-910b 16 > 8"]``."""
        have = dict(cap.accelerators)
        out = [f"cpu {self.cpu} > {cap.cpu}"] if self.cpu > cap.cpu else []
        if self.memory_gb > cap.memory_gb:
            out.append(f"memory {self.memory_gb} GB > {cap.memory_gb} GB")
        out += [f"{t} {c} > {have.get(t, 0)}" for t, c in self.accelerators if c > have.get(t, 0)]
        return out

    def as_dict(self) -> dict:
        return {"cpu": self.cpu, "memory_gb": self.memory_gb, "accelerators": dict(self.accelerators)}


@dataclass(frozen=True, slots=True)
class PoolSpec:
    id: str
    kind: str
    arch: str
    region: str
    capacity: Resources
    cpu_hour: int
    memory_gb_hour: int
    accelerator_hour: Mapping[str, int]
    transfer_fen_per_gb: Mapping[str, int]
    executor: str = "local"

    def transfer_price(self, region: str) -> int | None:
        """Fen per GB from ``region`` into this pool; None when the region cannot send data here."""
        price = self.transfer_fen_per_gb.get(region)
        if price is None and region == self.region:
            return 0  # data already in the pool's region moves nowhere
        return price


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    per_node: Resources
    hours: Fraction
    nodes: int = 1
    arch: frozenset[str] | None = None  # None: any
    residency: tuple[str, ...] | None = None  # None: anywhere
    data_region: str | None = None
    data_gb: Fraction = Fraction(0)
    buyer: str | None = None
    arrival: Fraction | None = None  # trace jobs only (hours since the trace start)
    index: int = field(default=0, compare=False)  # position in the input

    @property
    def demand(self) -> Resources:
        return self.per_node * self.nodes


# -- parsing ---------------------------------------------------------------------------------------

_JOB_KEYS = {"id", "cpu", "memory_gb", "accelerators", "arch", "hours", "data", "residency", "nodes", "buyer"}


def _job_bad(job_id, reason: str) -> UsageError:
    return UsageError("schedule.invalid_job", f"job {job_id!r}: {reason}" if job_id else f"job: {reason}")


def _exact(value, what: str, job_id, *, positive: bool) -> Fraction:
    """A JSON number read exactly: 0.1 is 1/10, not the nearest binary float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _job_bad(job_id, f"{what} must be a number, got {value!r}")
    exact = Fraction(value) if isinstance(value, int) else Fraction(Decimal(repr(value)))
    if exact < 0 or (positive and exact == 0):
        raise _job_bad(job_id, f"{what} must be {'positive' if positive else 'non-negative'}, got {value!r}")
    return exact


def _int(value, what: str, job_id, *, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _job_bad(job_id, f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _regions(value, what: str, job_id) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(r, str) and r.strip() for r in value):
        raise _job_bad(job_id, f"{what} must be a non-empty list of region names")
    return tuple(dict.fromkeys(r.strip() for r in value))


def parse_job(spec: Mapping, index: int = 0, *, extra_keys: frozenset[str] = frozenset()) -> JobSpec:
    """Validate one job (issue 6 shape, plus ``nodes`` and ``buyer``); problems are ``schedule.invalid_job``."""
    if not isinstance(spec, Mapping):
        raise _job_bad(None, f"expected a JSON object at position {index}")
    job_id = spec.get("id")
    if not isinstance(job_id, str) or not job_id.strip():
        raise _job_bad(None, f"id must be a non-empty string (position {index})")
    unknown = set(spec) - _JOB_KEYS - extra_keys
    if unknown:
        raise _job_bad(job_id, f"unknown keys {sorted(unknown)}")
    accelerators = spec.get("accelerators", {})
    if not isinstance(accelerators, Mapping) or not all(isinstance(t, str) and t for t in accelerators):
        raise _job_bad(job_id, "accelerators must be an object {type: count}")
    acc = {t: _int(n, f"accelerators[{t}]", job_id) for t, n in accelerators.items()}
    arch = spec.get("arch")
    if arch is not None:
        arch = [arch] if isinstance(arch, str) else arch
        if not isinstance(arch, list) or not arch or any(a not in ARCHS for a in arch):
            raise _job_bad(job_id, f"arch must be a non-empty list of {list(ARCHS)}")
        arch = frozenset(arch)
    residency = spec.get("residency")
    if residency is not None:
        residency = _regions(residency, "residency", job_id)
    data = spec.get("data")
    data_region, data_gb = None, Fraction(0)
    if data is not None:
        if not isinstance(data, Mapping) or set(data) - {"region", "gb"}:
            raise _job_bad(job_id, "data must be {region, gb}")
        data_region = data.get("region")
        if not isinstance(data_region, str) or not data_region.strip():
            raise _job_bad(job_id, "data.region must be a region name")
        data_region = data_region.strip()
        data_gb = _exact(data.get("gb", 0), "data.gb", job_id, positive=False)
    buyer = spec.get("buyer")
    if buyer is not None and (not isinstance(buyer, str) or not buyer):
        raise _job_bad(job_id, "buyer must be a non-empty string")
    per_node = Resources.of(_int(spec.get("cpu", 0), "cpu", job_id),
                            _int(spec.get("memory_gb", 0), "memory_gb", job_id), acc)
    arrival = None
    if "arrival" in extra_keys:
        arrival = _exact(spec.get("arrival"), "arrival (hours since the trace start)", job_id, positive=False)
    return JobSpec(id=job_id, per_node=per_node, arrival=arrival, hours=_exact(spec.get("hours"), "hours", job_id, positive=True),
                   nodes=_int(spec.get("nodes", 1), "nodes", job_id, minimum=1), arch=arch, residency=residency,
                   data_region=data_region, data_gb=data_gb, buyer=buyer, index=index)


def pool_spec(raw: Mapping) -> PoolSpec:
    """A pool in the stable shape (``compute.pools.parse_pool``). Its id is ``id`` if given, else ``name``.

    ``org`` (present in ``suanshu pool list --format json``) is ignored, so that listing feeds this directly.
    """
    if not isinstance(raw, Mapping):
        raise UsageError("pool.invalid", "pool: expected a JSON object")
    p = parse_pool({k: v for k, v in raw.items() if k != "org"})
    pid = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else p["name"]
    return PoolSpec(id=pid, kind=p["kind"], arch=p["arch"], region=p["region"],
                    capacity=Resources.of(p["cpu"], p["memory_gb"], p["accelerators"]),
                    cpu_hour=p["price"]["cpu_hour"], memory_gb_hour=p["price"]["memory_gb_hour"],
                    accelerator_hour=dict(p["price"]["accelerator_hour"]),
                    transfer_fen_per_gb=dict(p["transfer_fen_per_gb"]), executor=p["executor"])


def parse_pools(raw: Sequence) -> list[PoolSpec]:
    pools = [p if isinstance(p, PoolSpec) else pool_spec(p) for p in _items(raw, "pools")]
    _unique([p.id for p in pools], "pool")
    return pools


def parse_jobs(raw: Sequence, *, extra_keys: frozenset[str] = frozenset()) -> list[JobSpec]:
    jobs = [j if isinstance(j, JobSpec) else parse_job(j, i, extra_keys=extra_keys)
            for i, j in enumerate(_items(raw, "jobs"))]
    _unique([j.id for j in jobs], "job")
    return jobs


def _items(raw, key: str) -> list:
    """A list of objects, or ``{key: [...]}`` (both shapes appear in exported files)."""
    if isinstance(raw, Mapping) and key in raw:
        raw = raw[key]
    if not isinstance(raw, list | tuple):
        raise UsageError("schedule.invalid_input", f"{key}: expected a JSON list of objects (or {{{key!r}: [...]}})")
    return list(raw)


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise UsageError(f"schedule.duplicate_{what}", f"{what} id {i!r} appears twice")
        seen.add(i)


# -- score -----------------------------------------------------------------------------------------

def _half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def _num(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def fen_per_hour(job: JobSpec, pool: PoolSpec) -> dict:
    """The hourly rate of the whole job (all nodes) on the pool, per resource (integers)."""
    d = job.demand
    return {"cpu": d.cpu * pool.cpu_hour, "memory": d.memory_gb * pool.memory_gb_hour,
            "accelerators": {t: c * pool.accelerator_hour[t] for t, c in d.accelerators}}


def cost_breakdown(job: JobSpec, pool: PoolSpec) -> dict:
    """Issue 6's cost, with its parts: hours x (cpu + memory + accelerators per hour) + gb x transfer."""
    rate = fen_per_hour(job, pool)
    hourly = rate["cpu"] + rate["memory"] + sum(rate["accelerators"].values())
    per_gb = pool.transfer_price(job.data_region) if job.data_region else 0
    compute, transfer = _half_up(job.hours * hourly), _half_up(job.data_gb * (per_gb or 0))
    return {"hours": _num(job.hours), "fen_per_hour": {**rate, "total": hourly}, "compute": compute,
            "data_gb": _num(job.data_gb), "transfer_fen_per_gb": per_gb or 0, "transfer": transfer,
            "cost": compute + transfer}


def cost(job: JobSpec, pool: PoolSpec) -> int:
    return cost_breakdown(job, pool)["cost"]


# -- filter ----------------------------------------------------------------------------------------

def where(job: JobSpec) -> str:
    return f"in allowed regions [{', '.join(job.residency)}]" if job.residency else "in any region"

# -- result ----------------------------------------------------------------------------------------

@dataclass(slots=True)
class Placement:
    job: str
    pool: str
    cost: int
    breakdown: dict | None = None
    why: str | None = None

    def as_dict(self, explain: bool = False) -> dict:
        out = {"job": self.job, "pool": self.pool, "cost": self.cost}
        if explain:
            out.update(breakdown=self.breakdown, why=self.why)
        return out


@dataclass(slots=True)
class Unplaced:
    job: str
    code: str
    reason: str

    def as_dict(self, explain: bool = False) -> dict:
        return {"job": self.job, "reason": self.reason, "code": self.code}


@dataclass(slots=True)
class Schedule:
    placements: list[Placement]
    unplaced: list[Unplaced]
    mode: str  # the mode that produced the plan: exact | heuristic
    optimal: bool | None = None  # exact mode: CP-SAT proved every stage optimal
    stats: dict = field(default_factory=dict)

    @property
    def total_cost(self) -> int:
        return sum(p.cost for p in self.placements)

    def as_dict(self, explain: bool = False) -> dict:
        out = {"placements": [p.as_dict(explain) for p in self.placements],
               "unplaced": [u.as_dict(explain) for u in self.unplaced], "total_cost": self.total_cost}
        if explain:
            out.update(mode=self.mode, optimal=self.optimal, stats=self.stats)
        return out


# -- assign ----------------------------------------------------------------------------------------

def fair_ranks(jobs: Sequence[JobSpec], already: Mapping[str, int] | None = None) -> list[int]:
    """Each job's rank among its buyer's jobs, in input order (the fair-share key); ``already``:
    jobs each buyer has running, which rank before its jobs here (a queue's fair share)."""
    seen: dict[str | None, int] = dict(already or {})
    ranks = []
    for j in jobs:
        ranks.append(seen.get(j.buyer, 0))
        seen[j.buyer] = ranks[-1] + 1
    return ranks


def schedule(pools: Sequence, jobs: Sequence, *, mode: str = "auto", time_limit: float = 20.0,
             explain: bool = True, capacity: Sequence[Resources] | None = None,
             running: Mapping[str, int] | None = None) -> Schedule:
    """Place jobs on pools. ``mode``: exact (CP-SAT), heuristic, or auto (exact when small).

    ``capacity`` overrides each pool's free capacity (the simulator passes what running jobs leave);
    static feasibility still uses the pools' full capacity, so a job that fits an empty pool waits.
    ``running``: jobs each buyer already runs; fair share counts them (a queue drained by batches).
    """
    from suanshu.compute import exact, heuristic

    pools, jobs = parse_pools(pools), parse_jobs(jobs)
    if mode not in ("auto", "exact", "heuristic"):
        raise UsageError("schedule.invalid_mode", f"mode must be auto, exact or heuristic, got {mode!r}")
    problem = heuristic.Problem(pools, jobs, capacity, running=running)
    # also the starting hint for CP-SAT; the time limit bounds its repair too (a queue drain must not stall)
    plan = heuristic.solve(problem, budget_s=time_limit)
    used, optimal = "heuristic", None
    if mode == "exact" or (mode == "auto" and problem.pair_count() <= EXACT_MAX_PAIRS):
        plan, optimal = exact.solve(problem, hint=plan, time_limit=time_limit)
        used = "exact"
    return problem.result(plan, used, optimal, explain=explain)
