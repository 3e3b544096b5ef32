"""Differential privacy for dp mode: exact discrete Laplace noise, bounded sensitivity, ε split.

Noise source. Every draw comes from ``secrets`` (the OS CSPRNG), and the noise is the
*discrete* Laplace distribution, sampled exactly with integer and rational arithmetic
(Canonne, Kamath, Steinke 2020, "The Discrete Gaussian for Differential Privacy", Alg. 1-2).
Textbook Laplace over floating point leaks through the gaps between representable doubles
(Mironov 2012, "On Significance of the Least Significant Bits for Differential Privacy"); his
fix is the snapping mechanism, which costs extra ε and still depends on the platform's float
rounding. Working on integers avoids the problem instead of patching it: counts are integers,
and sums are computed in the database over values clamped to the declared bounds and quantised
to a power-of-two grid ``gamma`` (so they are integers too). Only the final, already noisy
integer is turned into a float, which is post-processing and costs no privacy.

Limits, stated plainly:

- quantisation rounds each clamped value to the grid (at most gamma/2 each; gamma is 2^-30 of
  the larger bound, far below the noise);
- the group-size threshold (min_group_size) is applied to *true* counts, as the issue requires
  of every mode; whether a group near the threshold appears at all is therefore not covered by
  ε. GROUP BY dimensions with public, fixed domains avoid the issue;
- neighbouring datasets differ by one row: with several rows per person the guarantee is ε per
  row, not per person (the policy refuses ``entity`` in dp mode for that reason).

ε per query is split evenly over the measurements an output row needs (COUNT and SUM one each,
AVG two: a noisy sum over a noisy count); GROUP BY groups are disjoint, so rows compose in
parallel and one query spends exactly ``epsilon_per_query``.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from fractions import Fraction

GRID_BITS = 30  # the larger bound spans 2^30 grid steps

def _bernoulli(p: Fraction) -> bool:
    return secrets.randbelow(p.denominator) < p.numerator


def _bernoulli_exp(gamma: Fraction) -> bool:
    """True with probability exp(-gamma), exactly, for rational gamma >= 0 (CKS Alg. 1)."""
    while gamma > 1:
        if not _bernoulli_exp(Fraction(1)):
            return False
        gamma -= 1
    k = 1
    while _bernoulli(gamma / k):
        k += 1
    return k % 2 == 1


def discrete_laplace(scale: Fraction) -> int:
    """One draw with P(x) proportional to exp(-|x| / scale), exactly (CKS Alg. 2)."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    t, s = scale.numerator, scale.denominator  # scale = t / s
    while True:
        u = secrets.randbelow(t)
        if not _bernoulli_exp(Fraction(u, t)):
            continue
        v = 0
        while _bernoulli_exp(Fraction(1)):
            v += 1
        y = (u + t * v) // s
        negative = secrets.randbelow(2) == 1
        if negative and y == 0:
            continue
        return -y if negative else y


def discrete_laplace_variance(scale: Fraction) -> float:
    """Var = 2 e^(-1/b) / (1 - e^(-1/b))^2 for scale b."""
    q = math.exp(-1 / float(scale))
    return 2 * q / (1 - q) ** 2


@dataclass(frozen=True)
class Grid:
    """A column's bounds on the integer grid the database sums over."""

    lower: float
    upper: float
    gamma: Fraction  # a power of two
    sensitivity: int  # max |value| in grid steps: what one row can change the sum by

    def scale_sql(self) -> str:
        """1/gamma as a DuckDB DOUBLE literal (exact: a power of two)."""
        return repr(float(1 / self.gamma))


def grid(lower: float, upper: float) -> Grid:
    largest = max(abs(lower), abs(upper))
    exponent = math.ceil(math.log2(largest)) - GRID_BITS if largest > 0 else -GRID_BITS
    gamma = Fraction(2) ** exponent
    return Grid(lower, upper, gamma, math.ceil(Fraction(largest) / gamma))


@dataclass(frozen=True)
class Output:
    """How one output column is made: a group key passed through, or a noisy aggregate."""

    kind: str  # "key" | "count" | "sum" | "avg"
    source: tuple[int, ...]  # result column positions: (value,) or, for avg, (grid sum, count)
    grid: Grid | None = None  # sum and avg

    @property
    def measurements(self) -> int:
        return 0 if self.kind == "key" else len(self.source)


def epsilon_each(epsilon_per_query: Fraction, outputs: tuple[Output, ...]) -> Fraction:
    m = sum(o.measurements for o in outputs)
    return epsilon_per_query / max(m, 1)


def noisy_row(row: tuple, outputs: tuple[Output, ...], eps: Fraction) -> tuple:
    """One released row: keys as they are, each measurement with its own noise draw."""
    out = []
    for o in outputs:
        if o.kind == "key":
            out.append(row[o.source[0]])
        elif o.kind == "count":
            out.append(max(0, int(row[o.source[0]]) + discrete_laplace(1 / eps)))
        elif o.kind == "sum":
            total = int(row[o.source[0]] or 0) + discrete_laplace(o.grid.sensitivity / eps)
            out.append(float(total * o.grid.gamma))
        else:  # avg: noisy sum / noisy count, clamped into the bounds (post-processing)
            total = int(row[o.source[0]] or 0) + discrete_laplace(o.grid.sensitivity / eps)
            count = int(row[o.source[1]]) + discrete_laplace(1 / eps)
            mean = float(total * o.grid.gamma) / max(count, 1)
            out.append(float(min(max(mean, o.grid.lower), o.grid.upper)))
    return tuple(out)
