"""Is an fd count growing? Theil-Sen slopes with a confidence bound, and time to the limit.

Theil-Sen (the median of all pairwise slopes) ignores the spikes of open/close churn that
throw a least-squares fit off. Its confidence interval is Sen's: ranks of the sorted
pairwise slopes around the median, from the variance of Kendall's S.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fdleak.model.durations import human
from fdleak.model.series import Trend

_Z95 = 1.96
MIN_SAMPLES = 5
MIN_GROWTH = 3  # fds: a log file or one lazily opened connection is not a trend
_MAX_POINTS = 60  # pairwise slopes grow as n²: fit on at most this many points


def theil_sen(points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """(slope, low, high) per unit of x, with a 95% confidence interval."""
    slopes = sorted(
        (y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points) for x2, y2 in points[i + 1 :] if x2 != x1
    )
    if not slopes:
        return 0.0, 0.0, 0.0
    count = len(slopes)
    middle = count // 2
    slope = slopes[middle] if count % 2 else (slopes[middle - 1] + slopes[middle]) / 2
    n = len(points)
    spread = _Z95 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    low_rank = max(0, math.floor((count - spread) / 2))
    high_rank = min(count - 1, math.ceil((count + spread) / 2))
    return slope, slopes[low_rank], slopes[high_rank]


def judge(samples: Sequence[tuple[float, int]], soft_limit: int | None = None) -> Trend | None:
    """The trend of ``samples`` ((time, count), oldest first); None with too few samples.

    Growing means all three: the whole series rises with 95% confidence, its newer half
    still rises, and its newest third set a new high. A pool that filled up and a burst
    of churn fail the second or third test.
    """
    if len(samples) < MIN_SAMPLES:
        return None
    points = _thin(samples)
    span = samples[-1][0] - samples[0][0]
    if span <= 0:
        return None
    slope, low, high = theil_sen(points)
    recent, _, _ = theil_sen(points[len(points) // 2 :])
    third = max(1, len(samples) // 3)
    earlier_high = max(count for _, count in samples[:-third])
    newest_high = max(count for _, count in samples[-third:])
    growth = newest_high - min(count for _, count in samples)
    growing = low > 0 and recent > 0 and newest_high > earlier_high and growth >= MIN_GROWTH
    per_hour = 3600.0
    if growing:
        confidence = "high" if len(samples) >= 10 and low > slope / 2 else "medium"
        reason = f"grew {samples[0][1]} → {samples[-1][1]} fds in {human(span)}"
    else:
        confidence = "low"
        reason = _why_not(low, recent, newest_high, earlier_high, growth)
    seconds_left = None
    if growing and soft_limit is not None and slope > 0:
        seconds_left = max(0.0, (soft_limit - samples[-1][1]) / slope)
    return Trend(
        rate_per_hour=slope * per_hour,
        low_per_hour=low * per_hour,
        high_per_hour=high * per_hour,
        samples=len(samples),
        span=span,
        growing=growing,
        confidence=confidence,
        reason=reason,
        seconds_left=seconds_left,
    )


def _thin(samples: Sequence[tuple[float, int]]) -> list[tuple[float, float]]:
    """At most _MAX_POINTS evenly spaced samples, always keeping the first and the newest."""
    if len(samples) <= _MAX_POINTS:
        return [(t, float(c)) for t, c in samples]
    step = (len(samples) - 1) / (_MAX_POINTS - 1)
    return [(samples[round(i * step)][0], float(samples[round(i * step)][1])) for i in range(_MAX_POINTS)]


def _why_not(low: float, recent: float, newest_high: int, earlier_high: int, growth: int) -> str:
    if growth < MIN_GROWTH:
        return f"grew by only {growth} fds" if growth > 0 else "no growth"
    if low < 0:
        return "no steady growth (the count's trend is within noise)"
    if recent <= 0 or newest_high <= earlier_high:
        return "grew, then levelled off (a pool or cache that filled up)"
    return "no steady growth"


MIN_PROCESSES = 3
_SIGN_TEST_P = 0.05


def judge_role(processes: Sequence[Sequence[tuple[float, int]]]) -> Trend | None:
    """Do the processes of one role gain fds during their lives? Each one's samples, pooled.

    Pool children recycled every few tasks never live long enough for a trend of their
    own. Each process that was sampled twice or more gives one observation, its own
    growth from first to last sample (children forked at different moments start from
    different counts). Growing means a one-sided sign test says more of them grew than
    shrank (p < 0.05) and the median process grew by MIN_GROWTH fds or more. None with
    fewer than MIN_PROCESSES such processes.
    """
    lives = [samples for samples in processes if len(samples) >= 2 and samples[-1][0] > samples[0][0]]
    if len(lives) < MIN_PROCESSES:
        return None
    growths = sorted(s[-1][1] - s[0][1] for s in lives)
    rates = sorted((s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0]) * 3600 for s in lives)
    spans = sorted(s[-1][0] - s[0][0] for s in lives)
    grew = sum(g > 0 for g in growths)
    shrank = sum(g < 0 for g in growths)
    p_value = _sign_test(grew, grew + shrank)
    median_growth = _median(growths)
    growing = p_value < _SIGN_TEST_P and median_growth >= MIN_GROWTH
    reason = (
        f"{grew} of {len(lives)} processes gained fds during their lives "
        f"(median +{median_growth:g} in {human(_median(spans))})"
    )
    return Trend(
        rate_per_hour=_median(rates),
        low_per_hour=rates[len(rates) // 4],
        high_per_hour=rates[(3 * len(rates)) // 4],
        samples=sum(len(s) for s in lives),
        span=_median(spans),
        growing=growing,
        confidence="medium" if growing else "low",
        reason=reason,
    )


def _sign_test(successes: int, trials: int) -> float:
    """P(X >= successes) for X ~ Binomial(trials, 1/2)."""
    if trials == 0:
        return 1.0
    return float(sum(math.comb(trials, k) for k in range(successes, trials + 1)) / 2**trials)


def _median(values: Sequence[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
