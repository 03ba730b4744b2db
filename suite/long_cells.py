"""The long cells summarized (issue 35: agents trained to 50,000 steps): per dataset and backbone, the
score along training, the score at a few steps, a steadier score than one evaluation, the probability that
one backbone beats another, and how closely each follows the return it is asked for.

A long cell is a cell (suite.cells) whose curves hold an evaluation every few thousand steps at the env's
targets, whose evaluation after the last step has more episodes, and whose "target_sweep" holds the
achieved return at a range of targets (sweep.py --final-episodes, --target-sweep). Everything is at the
env's main target and over the seeds whose cell is ok; the score at the last step is the cell's own score,
from its final evaluation.
"""
import json
from itertools import combinations
from pathlib import Path

import numpy as np

from envs import normalized_score
from suite.cells import (backbone_cells, check_poolable, curve, normalized_return, provenance_counts, table_groups,
                         table_keys)
from suite.statistics import probability_of_improvement, statistics

LONG_CELLS = "results/long-cells"  # where issue 35's sweep writes them (results/jobs.sh)
TABLE_STEPS = (10_000, 25_000)  # the steps along training tabled, besides the last
STEADY_EVALUATIONS = 5  # the last evaluations of a run that its steadier score averages
BUDGET_STEPS = (5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000)  # budgets a first run might take
BUDGET_EVALUATIONS = 3  # the evaluations up to a budget that its score averages (5,000 steps at one per 2,500)


def data_ranges(stats_json: str) -> dict[str, tuple[float, float]]:
    """Per versioned data id, the 10th and 90th percentiles of its episodes' normalized returns, from
    `python -m envs.stats`'s JSON (none where the file is missing): the cells record only the data's mean."""
    path = Path(stats_json)
    if not stats_json or not path.exists():
        return {}
    rows = json.loads(path.read_text())["datasets"]
    return {row["id"]: (row["percentiles"]["10"], row["percentiles"]["90"]) for row in rows if "percentiles" in row}


def curve_statistics(curves: list[dict], reps: int, rng: np.random.Generator) -> dict:
    """IQM and its 95% interval over the runs, at each step every run evaluated."""
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    stats = [statistics([np.array([c[step] for c in curves])], reps, rng) for step in steps]
    return {"steps": steps, "iqm": [s["iqm"] for s in stats], "iqm_ci": [s["iqm_ci"] for s in stats]}


def steady_score(run_curve: dict, count: int = STEADY_EVALUATIONS, up_to: int | None = None) -> float | None:
    """The mean of a run's last `count` evaluations up to step `up_to` (its last step if None; None where
    the run did not evaluate at `up_to`): one evaluation of 10 episodes swings by 15-30 points between
    evaluations (issue 35), and the best seen would flatter every backbone."""
    if up_to is not None and up_to not in run_curve:
        return None
    steps = [step for step in sorted(run_curve) if up_to is None or step <= up_to]
    return float(np.mean([run_curve[step] for step in steps[-count:]]))


def budget_runs(curves: list[dict]) -> dict:
    """Per step of BUDGET_STEPS, each run's mean of its BUDGET_EVALUATIONS evaluations up to that step (runs
    that did not evaluate there left out): what a run trained that long scores, steadier than one evaluation.
    The learning rate is constant after its warm-up, so a run stopped at that step is this run's beginning."""
    return {str(step): [score for score in (steady_score(c, BUDGET_EVALUATIONS, step) for c in curves)
                        if score is not None] for step in BUDGET_STEPS}


def conditioning(ok: list[dict], env: str, reps: int, rng: np.random.Generator) -> list[dict]:
    """Per target of the cells' return-conditioning sweeps: the target, raw and normalized, and the
    statistics of the achieved normalized return over the runs that evaluated it."""
    achieved = {}
    for record in ok:
        for result in record.get("target_sweep", {}).get("results", []):
            achieved.setdefault(result["target_return"], []).append(result["normalized_mean"])
    return [{"target": target, "normalized_target": float(normalized_score(env, target)),
             "stats": statistics([np.array(values)], reps, rng)} for target, values in sorted(achieved.items())]


def summarize_long(records: list[dict], data_range: dict, reps: int, seed: int) -> dict:
    """Per (dataset, regime, preset): a row per backbone (its curve, its score at TABLE_STEPS and at the last
    step, its steadier score, its return conditioning and the target it scores highest at) and the
    probability of improvement of each pair of backbones at the last step."""
    check_poolable(records)
    rng = np.random.default_rng(seed)
    datasets = []
    for (task, regime, preset), group in table_groups(records):
        dataset = table_keys(task, regime, preset, group)
        main = dataset["main_target"]
        tag = f"eval/normalized_return_{int(main)}"
        rows, final = [], {}
        for backbone, ok, failed in backbone_cells(group):
            curves = [curve(r, tag) for r in ok]
            final[backbone] = np.array([normalized_return(r, main) for r in ok])
            at_steps = {str(step): statistics([np.array([c[step] for c in curves if step in c])], reps, rng)
                        for step in TABLE_STEPS}
            targets = conditioning(ok, dataset["env"], reps, rng)
            budgets = budget_runs(curves)
            rows.append({
                "backbone": backbone, "seeds": [r["cell"]["seed"] for r in ok], "failed": failed,
                "eval_episodes": sorted({r["train_config"]["eval_episodes"] for r in ok}),
                "final_episodes": sorted({result["episodes"] for r in ok for result in r["evaluation"]["results"]
                                          if result["target_return"] == main}),
                "curve": curve_statistics(curves, reps, rng), "at_steps": at_steps,
                "final": statistics([final[backbone]], reps, rng),
                "steady": statistics([np.array([steady_score(c) for c in curves if c])], reps, rng),
                "budget": {step: statistics([np.array(scores)], reps, rng) for step, scores in budgets.items()},
                "budget_runs": budgets,
                "conditioning": targets,
                "best_target": max((t for t in targets if t["stats"]["n"]), key=lambda t: t["stats"]["iqm"],
                                   default=None)})
        improvement = [{"a": a, "b": b, **probability_of_improvement([final[a]], [final[b]], reps, rng)}
                       for a, b in combinations(final, 2) if len(final[a]) and len(final[b])]
        last_step = max((r["train_config"]["steps"] for r in group if r["status"] == "ok"), default=None)
        datasets.append({**dataset, "last_step": last_step, "data_range": data_range.get(dataset["data_id"]),
                         "rows": rows, "improvement": improvement,
                         "plots": {kind: f"long-{dataset['file']}-{kind}.png" for kind in ("curves", "conditioning")}})
    return {"cells": len(records), "datasets": datasets, **provenance_counts(records)}
