"""The pool shape shared by the registry, the API and the offline scheduler (pure).

``{"name", "kind": "general|ai|hpc", "arch": "x86_64|aarch64", "region", "cpu", "memory_gb",
"accelerators": {"nvidia-h100": 8}, "price": {"cpu_hour", "memory_gb_hour",
"accelerator_hour": {"nvidia-h100": fen}}, "transfer_fen_per_gb": {"<region>": fen},
"executor": "local" | "ray://host:port"}`` — prices are integer fen; ``transfer_fen_per_gb[r]``
is the price of bringing one GB from region r into the pool (0 for its own region).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from suanshu.core.errors import UsageError

KINDS = ("general", "ai", "hpc")  # 通算 / 智算 / 超算
ARCHS = ("x86_64", "aarch64")
_KEYS = {"name", "kind", "arch", "region", "cpu", "memory_gb", "accelerators", "price",
         "transfer_fen_per_gb", "executor", "id"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ACCEL = re.compile(r"^[a-z0-9][a-z0-9.-]{0,40}$")


def _bad(reason: str) -> UsageError:
    return UsageError("pool.invalid", f"pool: {reason}")


# Far above any real pool (10^12 cores, ¥10 billion an hour), far below where a job's cost
# (hours x count x price) leaves 64-bit integers.
LARGEST = 10**12


def _count(value, what: str, *, positive: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < (1 if positive else 0):
        raise _bad(f"{what} must be a {'positive' if positive else 'non-negative'} integer, got {value!r}")
    if value > LARGEST:
        raise _bad(f"{what} is {value:,}; at most {LARGEST:,}")
    return value


def _fen_map(value, what: str, keys_re: re.Pattern | None = None) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise _bad(f"{what} must be an object")
    for key, fen in value.items():
        if not isinstance(key, str) or not key or (keys_re and not keys_re.match(key)):
            raise _bad(f"{what}: bad key {key!r}")
        _count(fen, f"{what}[{key}]")
    return dict(value)


def parse_pool(spec: Mapping) -> dict:
    """Validate a pool and return it normalised; every problem is a ``pool.invalid`` UsageError."""
    if not isinstance(spec, Mapping):
        raise _bad("expected a JSON object")
    unknown = set(spec) - _KEYS
    if unknown:
        raise _bad(f"unknown keys {sorted(unknown)}")
    name = spec.get("name") or spec.get("id")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _bad(f"name {name!r}: lowercase letters, digits and dashes")
    if spec.get("kind") not in KINDS:
        raise _bad(f"kind must be one of {list(KINDS)}")
    if spec.get("arch") not in ARCHS:
        raise _bad(f"arch must be one of {list(ARCHS)}")
    region = spec.get("region")
    if not isinstance(region, str) or not region.strip():
        raise _bad("region is required, e.g. 湖南-长沙")
    accelerators = _fen_map(spec.get("accelerators", {}), "accelerators", _ACCEL)
    price = spec.get("price")
    if not isinstance(price, Mapping):
        raise _bad("price is required: {cpu_hour, memory_gb_hour, accelerator_hour}")
    accel_price = _fen_map(price.get("accelerator_hour", {}), "price.accelerator_hour", _ACCEL)
    missing = set(accelerators) - set(accel_price)
    if missing:
        raise _bad(f"no accelerator_hour price for {sorted(missing)}")
    transfer = _fen_map(spec.get("transfer_fen_per_gb", {region: 0}), "transfer_fen_per_gb")
    executor = spec.get("executor", "local")
    if not isinstance(executor, str) or not (executor == "local" or executor.startswith(("ray://", "http://"))):
        raise _bad("executor must be 'local' or a Ray address (ray://host:port or http://host:8265)")
    return {
        "name": name, "kind": spec["kind"], "arch": spec["arch"], "region": region.strip(),
        "cpu": _count(spec.get("cpu"), "cpu", positive=True),
        "memory_gb": _count(spec.get("memory_gb"), "memory_gb", positive=True),
        "accelerators": accelerators,
        "price": {"cpu_hour": _count(price.get("cpu_hour", 0), "price.cpu_hour"),
                  "memory_gb_hour": _count(price.get("memory_gb_hour", 0), "price.memory_gb_hour"),
                  "accelerator_hour": accel_price},
        "transfer_fen_per_gb": transfer, "executor": executor,
    }
