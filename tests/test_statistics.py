"""suite.statistics against values worked out by hand."""
import numpy as np
import pytest

from suite.statistics import (differences, iqm, mann_whitney, mean, percentile_interval, probability_of_improvement,
                              stratified_bootstrap_ci, statistics)


def test_iqm_cuts_a_quarter_of_the_runs_from_each_end_rounded_down():
    assert iqm(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0])) == pytest.approx(3.5)  # mean of 2..5
    assert iqm(np.array([100.0, 1.0, 2.0, 3.0, 4.0])) == pytest.approx(3.0)  # 5 // 4 = 1 cut: mean of 2, 3, 4
    assert iqm(np.array([1.0, 2.0, 6.0])) == pytest.approx(3.0)  # 3 // 4 = 0 cut: the mean
    assert iqm(np.array([[0.0, 1.0, 2.0, 9.0], [4.0, 4.0, 8.0, 0.0]])) == pytest.approx([1.5, 4.0])  # per row


def test_percentile_interval_takes_the_middle_95_percent():
    assert percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))


def test_statistics_of_four_runs_and_of_a_task_with_one_run():
    stats = statistics([np.array([1.0, 2.0, 3.0, 4.0])], reps=200, rng=np.random.default_rng(0))
    assert (stats["n"], stats["mean"], stats["iqm"]) == (4, 2.5, 2.5)
    assert stats["std"] == pytest.approx(np.sqrt(5 / 3))  # squares 2.25 + 0.25 + 0.25 + 2.25 over 3
    assert 1.0 <= stats["iqm_ci"][0] < 2.5 < stats["iqm_ci"][1] <= 4.0
    one = statistics([np.array([1.0, 2.0]), np.array([7.0])], reps=200, rng=np.random.default_rng(0))
    assert one["mean"] == pytest.approx(10 / 3) and one["mean_ci"] is None and one["iqm_ci"] is None
    assert statistics([np.array([])], reps=200, rng=np.random.default_rng(0)) == {"n": 0}


def test_the_stratified_bootstrap_never_draws_a_run_from_another_task():
    """Task one's runs are all 0, task two's all 10: every stratified resample holds four of each, so its
    mean and IQM are 5; a resample across tasks would spread from 0 to 10."""
    tasks = [np.zeros(4), np.full(4, 10.0)]
    for statistic in (mean, iqm):
        assert stratified_bootstrap_ci(tasks, statistic, 500, np.random.default_rng(0)) == (5.0, 5.0)


def test_stratified_bootstrap_interval_covers_the_true_mean_at_its_rate():
    """Two tasks with means 0 and 10: the pooled mean's 95% interval holds 5 about 95% of the time.

    An interval that resampled across tasks would be far too wide (coverage near 1); a wrong
    percentile would be far too narrow.
    """
    rng = np.random.default_rng(0)
    repeats, covered = 400, 0
    for _ in range(repeats):
        tasks = [rng.normal(0.0, 1.0, 20), rng.normal(10.0, 1.0, 20)]
        low, high = stratified_bootstrap_ci(tasks, mean, 1000, rng)
        covered += low <= 5.0 <= high
    assert 0.88 <= covered / repeats <= 0.99


def test_differences_of_iqms_and_whether_the_interval_supports_them():
    (difference,) = differences({"a": [np.full(3, 10.0)], "b": [np.full(3, 4.0)]}, 200, np.random.default_rng(0))
    assert difference == {"a": "a", "b": "b", "iqm_difference": 6.0, "ci": (6.0, 6.0), "min_seeds": 3,
                          "supported": True}
    (one_seed,) = differences({"a": [np.array([10.0])], "b": [np.full(3, 4.0)]}, 200, np.random.default_rng(0))
    assert one_seed["iqm_difference"] == 6.0 and one_seed["ci"] is None and not one_seed["supported"]


def test_mann_whitney_counts_the_pairs_a_run_of_x_wins_ties_as_half():
    assert mann_whitney(np.array([5.0, 4.0, 1.0]), np.array([3.0, 2.0])) == pytest.approx(4 / 6)  # 5 and 4 win both
    assert mann_whitney(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0])) == pytest.approx(3 / 6)  # 0 + 0 + 1/2 * 2 + 2
    assert mann_whitney(np.array([[1.0, 1.0], [3.0, 3.0]]), np.array([[1.0], [0.0]])) == pytest.approx([0.5, 1.0])


def test_probability_of_improvement_averages_the_tasks_and_resamples_within_them():
    rng = np.random.default_rng(0)
    # task one: X wins every pair (1); task two: Y wins every pair (0); averaged: 0.5, and every resample says so
    x, y = [np.array([3.0, 4.0]), np.array([0.0, 0.0])], [np.array([1.0, 2.0]), np.array([5.0, 6.0])]
    assert probability_of_improvement(x, y, 500, rng) == {"probability": 0.5, "ci": (0.5, 0.5)}
    # X = {0, 2} against Y = {1, 1}: 0.5; a resample of X is {0, 0} (P = 0) a quarter of the time, {2, 2} (P = 1)
    # a quarter of the time: its 2.5th and 97.5th percentiles are 0 and 1
    assert probability_of_improvement([np.array([0.0, 2.0])], [np.array([1.0, 1.0])], 1000, rng) == {
        "probability": 0.5, "ci": (0.0, 1.0)}
    forward = probability_of_improvement([np.array([5.0, 4.0, 1.0])], [np.array([3.0, 2.0])], 10, rng)
    backward = probability_of_improvement([np.array([3.0, 2.0])], [np.array([5.0, 4.0, 1.0])], 10, rng)
    assert forward["probability"] + backward["probability"] == pytest.approx(1.0)
    one_seed = probability_of_improvement([np.array([5.0])], [np.array([3.0, 2.0])], 10, rng)
    assert one_seed == {"probability": 1.0, "ci": None}
