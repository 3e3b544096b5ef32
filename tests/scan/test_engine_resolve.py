"""``engine._resolve`` (one numpy step per priority level) against the plain greedy rule it
stands for: per cell, candidates in (priority, start) order, each kept unless it overlaps one
kept before it."""

from __future__ import annotations

import numpy as np
import pytest

from suanshu.scan.detectors import engine


def _greedy(rows, starts, ends, types, prios) -> list[tuple[int, int, int, int]]:
    """The kept candidates in (row, start) order, ties in input order."""
    taken: dict[int, list[tuple[int, int]]] = {}
    kept = []
    for i in sorted(range(len(rows)), key=lambda i: (rows[i], prios[i], starts[i], i)):
        spans = taken.setdefault(rows[i], [])
        if not any(starts[i] < e and s < ends[i] for s, e in spans):
            spans.append((starts[i], ends[i]))
            kept.append(i)
    return [(rows[i], starts[i], ends[i], types[i]) for i in sorted(kept, key=lambda i: (rows[i], starts[i], i))]


@pytest.mark.parametrize("levels", [3, 20])  # few levels: many cells with a level's spans overlapping
@pytest.mark.parametrize("seed", range(20))
def test_resolve_is_the_greedy_rule(seed, levels):
    r = np.random.default_rng(seed)
    n = int(r.integers(1, 400))
    rows = r.integers(0, max(1, n // 4), n)
    starts = r.integers(0, 60, n)
    # mostly short spans, some empty ones and some long ones that cover others
    ends = starts + r.choice([0, 1, 2, 3, 5, 8, 20], n, p=[0.03, 0.2, 0.2, 0.2, 0.17, 0.15, 0.05])
    prios = r.integers(0, levels, n)
    types = prios * 10 + r.integers(0, 2, n)
    found = engine._resolve(rows, starts, ends, types, prios)
    got = list(zip(*(a.tolist() for a in found), strict=True))
    assert got == _greedy(rows.tolist(), starts.tolist(), ends.tolist(), types.tolist(), prios.tolist())
