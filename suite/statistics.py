"""Statistics over runs, as Agarwal et al. 2021 ("Deep RL at the Edge of the Statistical Precipice")
report them: the interquartile mean (IQM), the mean, 95% intervals from the stratified bootstrap,
differences between two sets of runs and the probability of improvement.

Runs come as a list of tasks (env-datasets), one array of runs (seeds) each. The stratified bootstrap
resamples runs with replacement within each task, never across tasks, and the interval is the 2.5 and
97.5 percentiles of the statistic over the resamples: within one task the plain bootstrap over seeds;
pooled over tasks, each task's share of the runs kept fixed. (rliable implements the same, but does
not import on this stack: its arch<8 pin breaks under pandas 3.)
"""
from itertools import combinations

import numpy as np


def iqm(runs: np.ndarray) -> np.ndarray:
    """Interquartile mean along the last axis: a quarter of the runs cut from each end (rounded down,
    as scipy.stats.trim_mean(runs, 0.25) and rliable do), the rest averaged."""
    cut = runs.shape[-1] // 4
    return np.sort(runs, axis=-1)[..., cut:runs.shape[-1] - cut].mean(-1)


def mean(runs: np.ndarray) -> np.ndarray:
    return runs.mean(-1)


def resample(tasks: list[np.ndarray], reps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per task, `reps` resamples (rows) of its runs, drawn with replacement from that task's runs alone."""
    return [runs[rng.integers(0, len(runs), size=(reps, len(runs)))] for runs in tasks]


def stratified_bootstrap(tasks: list[np.ndarray], statistic, reps: int, rng: np.random.Generator) -> np.ndarray:
    """`statistic` (over the last axis) of `reps` stratified resamples of the pooled runs."""
    return statistic(np.concatenate(resample(tasks, reps, rng), axis=1))


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    low, high = np.percentile(samples, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(low), float(high)


def stratified_bootstrap_ci(tasks: list[np.ndarray], statistic, reps: int, rng: np.random.Generator) -> tuple[float, float]:
    return percentile_interval(stratified_bootstrap(tasks, statistic, reps, rng))


def statistics(tasks: list[np.ndarray], reps: int, rng: np.random.Generator) -> dict:
    """n, mean, std, IQM and the 95% intervals of the mean and the IQM over the pooled runs ({"n": 0}
    without runs; no intervals where a task has one run: nothing to resample)."""
    runs = np.concatenate(tasks)
    if not len(runs):
        return {"n": 0}
    spread = min(len(task) for task in tasks) > 1
    return {"n": len(runs), "mean": float(runs.mean()), "std": float(runs.std(ddof=1)) if len(runs) > 1 else None,
            "iqm": float(iqm(runs)), "mean_ci": stratified_bootstrap_ci(tasks, mean, reps, rng) if spread else None,
            "iqm_ci": stratified_bootstrap_ci(tasks, iqm, reps, rng) if spread else None}


def differences(runs: dict[str, list[np.ndarray]], reps: int, rng: np.random.Generator) -> list[dict]:
    """Per pair of keys (backbones, or one backbone's regimes), the IQM difference over the pooled tasks and
    its 95% interval, each key's runs resampled within tasks on their own (the seeds are not paired)."""
    samples = {key: stratified_bootstrap(tasks, iqm, reps, rng) for key, tasks in runs.items()}
    result = []
    for a, b in combinations(runs, 2):
        low, high = percentile_interval(samples[a] - samples[b])
        seeds = min(len(task) for task in runs[a] + runs[b])  # one seed in a task: no spread to resample
        result.append({"a": a, "b": b, "iqm_difference": float(iqm(np.concatenate(runs[a])) - iqm(np.concatenate(runs[b]))),
                       "ci": (low, high) if seeds > 1 else None, "min_seeds": seeds,
                       "supported": seeds > 1 and (low > 0 or high < 0)})
    return result


def mann_whitney(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(x > y) for a run x and a run y drawn at random, ties counting 1/2 (the Mann-Whitney U statistic
    over the number of pairs), along the last axis."""
    beats = x[..., :, None] - y[..., None, :]
    return ((beats > 0) + 0.5 * (beats == 0)).mean((-2, -1))


def probability_of_improvement(x: list[np.ndarray], y: list[np.ndarray], reps: int,
                               rng: np.random.Generator) -> dict:
    """rliable's probability of improvement, P(X > Y): the Mann-Whitney statistic of each task's runs of
    X against its runs of Y, averaged over the tasks; its 95% interval from the stratified bootstrap, X's
    and Y's runs resampled on their own (None where a task has one run on either side)."""
    def over_tasks(x, y):
        return np.mean([mann_whitney(a, b) for a, b in zip(x, y)], axis=0)

    spread = min(len(task) for task in x + y) > 1
    return {"probability": float(over_tasks(x, y)),
            "ci": percentile_interval(over_tasks(resample(x, reps, rng), resample(y, reps, rng))) if spread else None}
