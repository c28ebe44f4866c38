"""Trend analysis on hand-made series: Theil-Sen, its confidence bound, and the growth verdict."""

from __future__ import annotations

import random

import pytest

from fdleak.analysis.trend import judge, judge_role, theil_sen

_RNG = random.Random(3)
NOISE = [_RNG.randint(30, 80) for _ in range(40)]


def series(counts: list[int], step: float = 1.0) -> list[tuple[float, int]]:
    return [(1_000_000.0 + i * step, n) for i, n in enumerate(counts)]


def test_theil_sen_ignores_outliers_that_throw_least_squares_off() -> None:
    points = [(float(x), 2.0 * x + 5) for x in range(30)]
    points[3] = (3.0, 500.0)  # a burst of churn caught by one sample
    points[20] = (20.0, -100.0)
    slope, low, high = theil_sen(points)
    assert slope == pytest.approx(2.0)
    assert low <= 2.0 <= high


def test_the_confidence_interval_covers_the_true_slope_and_narrows_with_samples() -> None:
    rng = random.Random(7)
    covered = 0
    widths = []
    for n in (10, 40):
        for _ in range(50):
            points = [(float(x), 0.5 * x + rng.gauss(0, 3)) for x in range(n)]
            _, low, high = theil_sen(points)
            covered += low <= 0.5 <= high
            widths.append((n, high - low))
    assert covered >= 90  # 95% intervals: at least 90 of 100
    narrow = sum(w for n, w in widths if n == 40) / 50
    wide = sum(w for n, w in widths if n == 10) / 50
    assert narrow < wide / 3


def test_a_steady_leak_is_growing_with_time_to_the_limit() -> None:
    trend = judge(series([100 + 10 * i for i in range(20)]), soft_limit=1024)
    assert trend is not None and trend.growing and trend.confidence == "high"
    assert trend.rate_per_hour == pytest.approx(36_000)
    assert trend.seconds_left == pytest.approx((1024 - 290) / 10)


def test_too_few_samples_give_no_verdict() -> None:
    assert judge(series([1, 2, 3, 4])) is None


@pytest.mark.parametrize(
    ("counts", "why"),
    [
        ([50] * 30, "no growth"),
        ([10 + min(i, 8) * 5 for i in range(30)], "levelled off"),  # a pool that filled up
        ([20] * 10 + [21] * 20, "grew by only 1 fds"),  # a log file opened once
        (NOISE, "within noise"),  # churn
    ],
)
def test_not_growing(counts: list[int], why: str) -> None:
    trend = judge(series(counts))
    assert trend is not None and not trend.growing and trend.confidence == "low"
    assert why in trend.reason and trend.seconds_left is None


def test_a_slow_leak_under_noise_is_found_given_time() -> None:
    rng = random.Random(11)
    counts = [100 + i // 2 + rng.randint(-5, 5) for i in range(120)]  # +1 fd every 2 samples
    trend = judge(series(counts), soft_limit=4096)
    assert trend is not None and trend.growing
    assert trend.low_per_hour > 0 and trend.low_per_hour <= 1800 <= trend.high_per_hour


def test_long_series_are_thinned_but_keep_their_ends() -> None:
    counts = [10] * 5000 + [10 + i for i in range(1, 200)]
    trend = judge(series(counts))
    assert trend is not None and trend.samples == len(counts)


def life(start: float, counts: list[int]) -> list[tuple[float, int]]:
    return [(start + 0.3 * i, n) for i, n in enumerate(counts)]


def test_short_lived_processes_that_each_grow_make_a_growing_role() -> None:
    children = [life(10.0 * i, [20 + i % 5, 23 + i % 5, 27 + i % 5]) for i in range(8)]
    trend = judge_role(children)
    assert trend is not None and trend.growing and trend.confidence == "medium"
    assert "8 of 8 processes gained fds" in trend.reason and "median +7" in trend.reason


@pytest.mark.parametrize(
    "children",
    [
        [
            life(10.0 * i, [20, 20 + (1 if i % 2 else -1), 20]) for i in range(10)
        ],  # churn: up as often as down
        [life(10.0 * i, [20, 21]) for i in range(10)],  # each opens one connection: grows, but by 1
        [life(0.0, [20, 30, 40]), life(5.0, [20, 30, 40])],  # too few processes to pool
    ],
)
def test_roles_that_do_not_grow(children: list[list[tuple[float, int]]]) -> None:
    trend = judge_role(children)
    assert trend is None or not trend.growing
