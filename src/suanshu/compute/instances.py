"""Seeded scheduling instances in the stable shapes, for benchmarks, tests and what-if runs.

A regional compute network in miniature: regions on a line, each pool reaching its own region
and a few neighbours (transfer fen/GB grows with distance), general (通算) CPU pools on x86_64
and aarch64, AI (智算) pools with NVIDIA or Ascend accelerators, HPC (超算) large-CPU pools,
prices around a per-kind list price. Jobs mostly ask for small shapes, some for accelerators,
some as gangs; many are pinned to their data's region and its neighbours (数据不出域).
``load`` scales job sizes so that total demand is about that fraction of total capacity.
"""

from __future__ import annotations

import random

_ACCEL = {"nvidia-h100": ("x86_64", 1800), "nvidia-a800": ("x86_64", 1100), "ascend-910b": ("aarch64", 900)}


def regions(n: int) -> list[str]:
    return [f"region-{i:03d}" for i in range(n)]


def pools(n: int, *, seed: int = 0, n_regions: int | None = None, reach: int = 2) -> list[dict]:
    rng = random.Random(seed)
    names = regions(n_regions or max(3, n // 4))
    out = []
    for i in range(n):
        r = rng.randrange(len(names))
        kind = rng.choices(["general", "ai", "hpc"], [0.55, 0.3, 0.15])[0]
        jitter = lambda base: max(1, round(base * rng.uniform(0.7, 1.3)))  # noqa: E731
        transfer = {names[k]: abs(k - r) * jitter(8) for k in range(max(0, r - reach), min(len(names), r + reach + 1))}
        pool = {"id": f"pool-{i:05d}", "kind": kind, "region": names[r], "transfer_fen_per_gb": transfer,
                "price": {"cpu_hour": jitter(6), "memory_gb_hour": jitter(1), "accelerator_hour": {}}}
        if kind == "ai":
            acc = rng.choice(list(_ACCEL))
            arch, price = _ACCEL[acc]
            count = rng.choice([8, 16, 32])
            pool.update(arch=arch, cpu=count * 12, memory_gb=count * 96, accelerators={acc: count})
            pool["price"]["accelerator_hour"] = {acc: jitter(price)}
        elif kind == "hpc":
            pool.update(arch="x86_64", cpu=rng.choice([512, 1024]), memory_gb=4096)
        else:
            pool.update(arch=rng.choice(["x86_64", "x86_64", "aarch64"]), cpu=rng.choice([64, 128, 256]),
                        memory_gb=rng.choice([256, 512, 1024]))
        out.append(pool)
    return out


def jobs(n: int, pool_list: list[dict], *, seed: int = 0, load: float = 0.8, buyers: int = 5,
         residency: float = 0.5) -> list[dict]:
    """``n`` jobs whose summed cpu is about ``load`` x the pools' cpu."""
    rng = random.Random(seed)
    names = sorted({p["region"] for p in pool_list})
    accels = sorted({t for p in pool_list for t in p.get("accelerators", {})})
    cpu_per_job = load * sum(p["cpu"] for p in pool_list) / max(1, n)
    out = []
    for i in range(n):
        r = rng.randrange(len(names))
        scale = rng.uniform(0.25, 1.75)
        job = {"id": f"job-{i:06d}", "buyer": f"buyer-{rng.randrange(buyers)}",
               "hours": rng.choice([0.5, 1, 2, 4, 8, 24]),
               "data": {"region": names[r], "gb": round(rng.uniform(0, 200), 1)}}
        shape = rng.random()
        if shape < 0.25 and accels:
            acc = rng.choice(accels)
            per = rng.choice([1, 2, 4, 8])
            job.update(cpu=per * 8, memory_gb=per * 64, accelerators={acc: per})
            if rng.random() < 0.2:
                job["nodes"] = rng.choice([2, 4])
        else:
            cpu = max(1, round(cpu_per_job * scale))
            job.update(cpu=cpu, memory_gb=cpu * rng.choice([2, 4, 8]))
            if rng.random() < 0.15:
                job["arch"] = [rng.choice(["x86_64", "aarch64"])]
        if rng.random() < residency:
            job["residency"] = names[max(0, r - 1): r + 2]
        out.append(job)
    return out
