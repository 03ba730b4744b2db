"""Aggregate the sweep's cell JSONs into tables, statistics, plots, the README's headline table and
the results page of the docs.

    python aggregate.py                  # results/cells/*.json -> results/sweep.md, results/sweep.json, results/plots/,
                                         # README.md's headline, docs/results.md's tables
    python aggregate.py --readme "" --docs ""           # leave the README and the docs alone
    python aggregate.py --agent-version 1 --readme "" --docs "" --out /tmp/v1   # the cells of agent version 1

Cells of different agent versions are never pooled: the tables hold the cells of one version (the
newest present, or --agent-version), and the others are named as left out.

Per (env-dataset, context) and backbone, over the seeds whose cell is ok: mean, standard
deviation, interquartile mean (IQM: the mean of the middle half of the runs) and 95% intervals
for both from the stratified bootstrap of Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice": runs are resampled with replacement within each task (env-dataset),
never across tasks, and the interval is the 2.5 and 97.5 percentiles of the statistic over the
resamples. Within one dataset that is the plain bootstrap over seeds; the "all datasets" table
pools the tasks, with each task's share of the runs kept fixed. (rliable implements the same,
but does not import on this stack: its arch<8 pin breaks under pandas 3.)

Failed cells are listed with their error and never enter the statistics. Published D4RL figures
are shown beside ours in their own table, never mixed into them.
"""
import json
import os
import shlex
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import matplotlib
import numpy as np

from envs import DATASETS, env_spec
from envs.load import recorded_data_id
from minrnn import BACKBONES
from suite.runutils import atomic_path, expected_errors, parse_config, replace_marked_section

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

RESULTS_SECTION = "sweep-results"  # the marked section of the README and docs/results.md that aggregate.py writes
# D4RL v2 normalized returns as published: (Decision Transformer, Chen et al. 2021; CORL's DT, 4 seeds).
# From ../shared/design.md, section 3. Not runs of ours.
PUBLISHED = {
    "halfcheetah-medium": (42.6, 42.2), "hopper-medium": (67.6, 65.1), "walker2d-medium": (74.0, 67.6),
    "halfcheetah-medium-replay": (36.6, 38.9), "hopper-medium-replay": (82.7, 81.8),
    "walker2d-medium-replay": (66.6, 59.9), "halfcheetah-medium-expert": (86.8, 91.6),
    "hopper-medium-expert": (107.6, 110.4), "walker2d-medium-expert": (108.1, 107.1),
}
# the nine-dataset averages of Feng et al. 2024 ("Were RNNs All We Needed?"), from ../shared/design.md, section 3
PUBLISHED_AVERAGES = {"Decision Mamba": 78.8, "minGRU": 78.2, "minLSTM": 78.1,
                      "Decision Transformer (as Feng et al. report it)": 76.4, "Decision S4": 68.6}


@dataclass
class AggregateConfig:
    results: str = "results/cells"  # the cell JSONs sweep.py writes
    out: str = "results"  # sweep.md, sweep.json and plots/
    readme: str = "README.md"  # its section between the sweep-results markers gets the headline table; "" to leave it
    docs: str = "docs/results.md"  # its section between the same markers gets the full tables; "" to leave it
    agent_version: int = 0  # the cells of this agent version; 0: the newest version among the cells
    speed: str = "benchmarks/results"  # backbones-<device>.json from benchmarks/backbones.py
    reps: int = 2000  # bootstrap resamples
    seed: int = 0  # of the bootstrap, so that the same cells give the same tables


def iqm(runs: np.ndarray) -> np.ndarray:
    """Interquartile mean along the last axis: a quarter of the runs cut from each end (rounded down,
    as scipy.stats.trim_mean(runs, 0.25) and rliable do), the rest averaged."""
    cut = runs.shape[-1] // 4
    return np.sort(runs, axis=-1)[..., cut:runs.shape[-1] - cut].mean(-1)


def mean(runs: np.ndarray) -> np.ndarray:
    return runs.mean(-1)


def stratified_bootstrap(tasks: list[np.ndarray], statistic, reps: int, rng: np.random.Generator) -> np.ndarray:
    """`statistic` (over the last axis) of `reps` resamples; each resample draws every task's runs,
    with replacement, from that task's runs alone."""
    resampled = np.concatenate([runs[rng.integers(0, len(runs), size=(reps, len(runs)))] for runs in tasks], axis=1)
    return statistic(resampled)


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    low, high = np.percentile(samples, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(low), float(high)


def stratified_bootstrap_ci(tasks: list[np.ndarray], statistic, reps: int, rng: np.random.Generator) -> tuple[float, float]:
    return percentile_interval(stratified_bootstrap(tasks, statistic, reps, rng))


def statistics(tasks: list[np.ndarray], reps: int, rng: np.random.Generator) -> dict:
    runs = np.concatenate(tasks)
    if not len(runs):
        return {"n": 0}
    spread = min(len(task) for task in tasks) > 1  # one seed in a task: nothing to resample, no interval
    return {"n": len(runs), "mean": float(runs.mean()), "std": float(runs.std(ddof=1)) if len(runs) > 1 else None,
            "iqm": float(iqm(runs)), "mean_ci": stratified_bootstrap_ci(tasks, mean, reps, rng) if spread else None,
            "iqm_ci": stratified_bootstrap_ci(tasks, iqm, reps, rng) if spread else None}


def normalized_return(record: dict, target: float) -> float:
    (result,) = [r for r in record["evaluation"]["results"] if r["target_return"] == target]
    return result["normalized_mean"]


def mean_curve(records: list[dict], tag: str) -> dict:
    """The mean over seeds of one tensorboard curve, at the steps every seed logged."""
    series = [dict(map(tuple, record["curves"].get(tag, []))) for record in records]
    steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
    return {"steps": steps, "mean": [float(np.mean([s[step] for s in series])) for step in steps]}


def data_source(env: str, dataset: str) -> tuple[str, str | None]:
    """What the cells trained on, in words, and the PUBLISHED key of the same D4RL dataset, if any."""
    if dataset in DATASETS:
        return (f"the suite's generated `{env}-{dataset}` (`envs.generate`: D4RL's recipe with this suite's "
                f"SAC policies), not D4RL's file", f"{env}-{dataset}")
    if dataset.startswith("d4rl:"):
        name = dataset.removeprefix("d4rl:").removesuffix("-v2")
        return f"D4RL's `{name}-v2`", name
    return f"`{dataset}`", None


def backbone_rank(backbone: str) -> tuple[int, str]:
    """Sort key: minrnn's order of the backbones, any other after them by name."""
    return list(BACKBONES).index(backbone) if backbone in BACKBONES else len(BACKBONES), backbone


def cell_version(record: dict) -> int | None:
    """A cell's agent version; cells written before agent versions existed are version 1."""
    return record.get("agent_version", 1)


def cell_data(record: dict) -> str:
    """The versioned id of the data a cell trained on."""
    return recorded_data_id(record["cell"]["env"], record["cell"]["dataset"], record.get("data"))


def data_copies(records: list[dict]) -> list[dict]:
    """The copies of one data version that the cells trained on, by content hash: a suite dataset is
    generated on each machine, and CPU models that sum floats differently generate different transitions
    from the same policies (docs/results.md, "What repeats"). Each copy: its hash, its mean normalized
    return, the CPU models that made cells on it and those cells ("mingru s0"). Cells recorded without
    a data mean are left out."""
    copies = {}
    for record in records:
        if "dataset_mean_normalized" not in record:
            continue
        sha256 = (record.get("data") or {}).get("sha256")
        copy = copies.setdefault(sha256, {"sha256": sha256, "mean": record["dataset_mean_normalized"],
                                          "cpus": set(), "cells": []})
        copy["cpus"].add((record.get("machine") or {}).get("cpu", "an unrecorded CPU"))
        copy["cells"].append(f"{record['cell']['backbone']} s{record['cell']['seed']}")
    return [{**copy, "cpus": sorted(copy["cpus"])} for copy in copies.values()]


def summarize(records: list[dict], reps: int, seed: int) -> dict:
    versions = defaultdict(list)
    for record in records:
        versions[cell_version(record)].append(record["cell"]["name"])
    if len(versions) > 1:
        raise ValueError("cells of different agent versions cannot be pooled: " + "; ".join(
            f"version {v}: {len(names)} cells, e.g. {names[0]}" for v, names in sorted(versions.items()))
            + "; put each version's cells in its own --results folder")
    rng = np.random.default_rng(seed)
    groups = defaultdict(list)
    for record in records:  # cells written before presets were part of a cell ran the cpu preset
        groups[record["cell"]["task"], record["cell"]["context"], record["cell"].get("preset", "cpu")].append(record)
    tables = []
    made_on = defaultdict(list)
    for record in records:
        made_on[record["cell"]["task"], cell_data(record)].append(record["cell"]["name"])
    for task in {task for task, _ in made_on}:
        by_data = {data: names for (t, data), names in made_on.items() if t == task}
        if len(by_data) > 1:
            raise ValueError(f"cells of {task} trained on different data versions cannot be pooled: " + "; ".join(
                f"{data}: {len(names)} cells, e.g. {names[0]}" for data, names in sorted(by_data.items()))
                + "; put each version's cells in its own --results folder")
    def paper_order(item):  # env, then medium, medium-replay, expert, medium-expert (D4RL's and the paper's order)
        (task, context, preset), group = item
        env, dataset = group[0]["cell"]["env"], group[0]["cell"]["dataset"]
        return env, DATASETS.index(dataset) if dataset in DATASETS else len(DATASETS), task, context, preset

    for (task, context, preset), group in sorted(groups.items(), key=paper_order):
        env, dataset = group[0]["cell"]["env"], group[0]["cell"]["dataset"]
        targets = env_spec(env).target_returns
        source, published_key = data_source(env, dataset)
        copies = data_copies(group)
        table = {"task": task, "env": env, "dataset": dataset, "data_id": cell_data(group[0]),
                 "context": context, "preset": preset,
                 "title": f"{task}, {context} regime, {preset} preset", "file": f"{task}-{context}-{preset}",
                 "main_target": targets[0], "targets": targets, "data": source, "data_copies": copies,
                 "data_mean": float(np.mean([c["mean"] for c in copies])) if copies else None,
                 "published_key": published_key,
                 "published": PUBLISHED.get(published_key), "rows": []}
        for backbone in sorted({r["cell"]["backbone"] for r in group}, key=backbone_rank):
            cells = sorted((r for r in group if r["cell"]["backbone"] == backbone), key=lambda r: r["cell"]["seed"])
            ok = [r for r in cells if r["status"] == "ok"]
            scores = {str(int(t)): [normalized_return(r, t) for r in ok] for t in targets}
            table["rows"].append({
                "backbone": backbone, "seeds": [r["cell"]["seed"] for r in ok],
                "failed": [{"name": r["cell"]["name"], "seed": r["cell"]["seed"], "error": r["error"]}
                           for r in cells if r["status"] != "ok"],
                "scores": scores,
                "stats": {key: statistics([np.array(values)], reps, rng) for key, values in scores.items()},
                "curve": mean_curve(ok, f"eval/normalized_return_{int(targets[0])}"),
                "loss": mean_curve(ok, "train/loss"),
                "train_s": float(np.mean([r["train_s"] for r in ok])) if ok else None})
        tables.append(table)
    return {"cells": len(records), "agent_version": next(iter(versions), None), "tables": tables, "all_datasets": pooled(tables, reps, rng),
            "regime_differences": regime_differences(tables, reps, rng),
            "machines": dict(Counter(describe(r["machine"]) for r in records if r.get("machine"))),
            "code": dict(Counter(describe_code(r.get("code")) for r in records)),
            "sweep_commands": sorted({r["sweep_command"] for r in records if r.get("sweep_command")})}


# where a sweep put its files and how many cells it ran at once: not what a cell computes
MACHINE_LOCAL_FLAGS = ("--workers", "--out", "--results", "--ray-address")


def portable_command(command: str, results: str) -> str:
    """A recorded sweep command as a reader reruns it from a fresh clone: the machine-local flags left
    out (the run paths of the machine that made the cells), `--results` set to the folder aggregated when
    that is not the default."""
    words = shlex.split(command)
    split = words.index("--") if "--" in words else len(words)
    kept, i = [], 0
    while i < split:
        flag = words[i].split("=")[0]
        if flag in MACHINE_LOCAL_FLAGS:
            i += 1 if "=" in words[i] else 2
        else:
            kept.append(words[i])
            i += 1
    if Path(results) != Path(AggregateConfig.results):
        kept += ["--results", results]
    return shlex.join(kept + words[split:])


def pooled(tables: list[dict], reps: int, rng: np.random.Generator) -> list[dict]:
    """Per context and preset, every backbone over the tasks on which all of them have an ok seed (a grid
    still filling in is compared on the datasets it has filled), at each env's main target."""
    by_context = defaultdict(list)
    for table in tables:
        by_context[table["context"], table["preset"]].append(table)
    result = []
    for (context, preset), group in sorted(by_context.items()):
        backbones = sorted({row["backbone"] for t in group for row in t["rows"]}, key=backbone_rank)
        shared = [t for t in group if all(any(row["backbone"] == b and row["seeds"] for row in t["rows"]) for b in backbones)]
        if len(shared) < 2:
            continue
        rows, runs = [], {}
        for backbone in backbones:
            runs[backbone] = [np.array(next(r for r in t["rows"] if r["backbone"] == backbone)["scores"][str(int(t["main_target"]))])
                              for t in shared]
            rows.append({"backbone": backbone, "stats": statistics(runs[backbone], reps, rng),
                         "task_means": [float(task.mean()) for task in runs[backbone]]})
        data_means = [t["data_mean"] for t in shared]
        result.append({"context": context, "preset": preset, "tasks": [t["task"] for t in shared], "rows": rows,
                       "data_mean": float(np.mean(data_means)) if None not in data_means else None,
                       "differences": differences(runs, reps, rng)})
    return result


def regime_differences(tables: list[dict], reps: int, rng: np.random.Generator) -> list[dict]:
    """Per preset and backbone, each pair of regimes compared on each task on which the backbone has ok seeds
    in both, then pooled over those tasks, at each env's main target: whether a regime beats another (issue
    14's question; its rule reads the pooled row)."""
    scores = defaultdict(lambda: defaultdict(dict))  # (preset, backbone) -> context -> task -> main-target scores
    for table in tables:
        for row in table["rows"]:
            if row["seeds"]:
                scores[table["preset"], row["backbone"]][table["context"]][table["task"]] = np.array(
                    row["scores"][str(int(table["main_target"]))])
    task_order = {table["task"]: i for i, table in enumerate(tables)}
    result = []
    for preset, backbone in sorted(scores, key=lambda key: (key[0], *backbone_rank(key[1]))):
        by_context = scores[preset, backbone]
        for a, b in combinations(sorted(by_context), 2):
            tasks = sorted(by_context[a].keys() & by_context[b].keys(), key=task_order.get)
            for compared in [[task] for task in tasks] + ([tasks] if len(tasks) > 1 else []):
                runs = {context: [by_context[context][task] for task in compared] for context in (a, b)}
                result += [{"preset": preset, "backbone": backbone, "tasks": compared, **d}
                           for d in differences(runs, reps, rng)]
    return result


def differences(runs: dict[str, list[np.ndarray]], reps: int, rng: np.random.Generator) -> list[dict]:
    """Per pair of keys (backbones, or one backbone's regimes), the IQM difference over the pooled tasks and
    its 95% interval, each key's runs resampled within tasks on their own (the seeds are not paired)."""
    samples = {backbone: stratified_bootstrap(tasks, iqm, reps, rng) for backbone, tasks in runs.items()}
    result = []
    for a, b in combinations(runs, 2):
        low, high = percentile_interval(samples[a] - samples[b])
        seeds = min(len(task) for task in runs[a] + runs[b])  # one seed in a task: no spread to resample
        result.append({"a": a, "b": b, "iqm_difference": float(iqm(np.concatenate(runs[a])) - iqm(np.concatenate(runs[b]))),
                       "ci": (low, high) if seeds > 1 else None, "min_seeds": seeds,
                       "supported": seeds > 1 and (low > 0 or high < 0)})
    return result


def describe(machine: dict) -> str:
    gpu = f", {machine['gpu']}" if machine.get("gpu") else ""
    return (f"{machine['cpu']}, {machine['cpu_count']} cores, {machine['platform']}, torch {machine['torch']}, "
            f"device {machine['device']}{gpu}")


def describe_code(code: dict | None) -> str:
    if code is None:  # cells from before sweep.py recorded the commit, or run outside a git checkout
        return "commit not recorded"
    return f"commit {code['commit'][:12]}" + (" with modified Python files" if code["python_files_modified"] else "")


def fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_interval(interval: tuple[float, float] | None) -> str:
    return "–" if interval is None else f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def error_bar(stats: dict, key: str) -> list[list[float]] | None:
    """matplotlib's yerr for stats[key] around its point estimate; None without an interval."""
    point = stats[key.removesuffix("_ci")]
    return None if stats[key] is None else [[point - stats[key][0]], [stats[key][1] - point]]


def stats_cells(stats: dict) -> str:
    if not stats["n"]:
        return "– | – | – | – | –"
    return (f"{fmt(stats['mean'])} | {fmt(stats['std'])} | {fmt(stats['iqm'])} | "
            f"{fmt_interval(stats['iqm_ci'])} | {fmt_interval(stats['mean_ci'])}")


def render_copies(copies: list[dict]) -> list[str]:
    """Nothing for cells that all trained on one copy of the data; else each copy, its CPU models and cells."""
    if len(copies) < 2:
        return []
    return [f"The cells trained on {len(copies)} copies of this data version, each generated by the same "
            "policies on another CPU model, whose floating-point sums made other transitions; the mean above "
            "is the copies' average. The statistics pool them, as draws of the same recipe: " + "; ".join(
                f"sha256 {(c['sha256'] or 'unrecorded')[:12]} on {', '.join(c['cpus'])}, data mean {c['mean']:.1f}: "
                + ", ".join(c["cells"]) for c in copies) + "."]


def render_table(table: dict, target: float) -> list[str]:
    key = str(int(target))
    main = " (the main target)" if target == table["main_target"] else ""
    lines = [f"#### {table['title']}: normalized return at target {target:.0f}{main}", "",
             f"Data: {table['data']}, `{table['data_id']}`" + ("." if table["data_mean"] is None else
                                        f"; its episodes' mean normalized return is {table['data_mean']:.1f}."),
             *render_copies(table["data_copies"]), "",
             "| backbone | seeds ok | mean | std | IQM | IQM 95% CI | mean 95% CI | wall s (mean) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in table["rows"]:
        total = len(row["seeds"]) + len(row["failed"])
        lines.append(f"| {row['backbone']} | {len(row['seeds'])} of {total} | {stats_cells(row['stats'][key])} | "
                     f"{fmt(row['train_s'], 0)} |")
    failed = [f for row in table["rows"] for f in row["failed"]]
    if failed:
        lines += ["", "Failed cells (not in the statistics):"]
        lines += [f"- `{f['name']}`: {(f['error'] or 'no error recorded').strip().splitlines()[-1]}" for f in failed]
    if table["published"] and main:
        chen, corl = table["published"]
        lines += ["", "| published D4RL figures, not our runs | DT (Chen et al. 2021) | CORL DT (4 seeds) |",
                  "|---|---|---|", f"| D4RL's `{table['published_key']}-v2` | {chen} | {corl} |"]
    return lines + [""]


def provenance(summary: dict, cfg: AggregateConfig) -> list[str]:
    if not summary["cells"]:
        return [f"Generated by `python aggregate.py`: no cell results in `{cfg.results}/` yet.", ""]
    left_out = ", ".join(f"{n} cells of version {v}" for v, n in sorted(summary["left_out"].items(), key=str))
    return [f"Generated by `python aggregate.py` from {summary['cells']} cell files of agent version "
            f"{summary['agent_version']} in `{cfg.results}/`; rerun it rather than editing this text."
            + (f" Left out, since versions are never pooled (`--agent-version N` tables them): {left_out}."
               if left_out else ""), ""]


def main_target_stats(table: dict, backbone: str) -> dict:
    """A backbone's statistics at the table's main target ({"n": 0} when it has no row there)."""
    row = next((row for row in table["rows"] if row["backbone"] == backbone), None)
    return row["stats"][str(int(table["main_target"]))] if row else {"n": 0}


def headline_cell(stats: dict) -> str:
    """IQM [95% interval] (runs), or a dash where there are none."""
    return " ".join([fmt(stats["iqm"]), *([fmt_interval(stats["iqm_ci"])] if stats["iqm_ci"] else []),
                     f"({stats['n']})"]) if stats["n"] else "–"


def backbone_rows(tables: list[dict], pooled: dict | None = None) -> list[str]:
    """One markdown row per backbone, a column per table: IQM [95% interval] (seeds) at its main target;
    then, where the tables pool, the IQM over every run of the pooled datasets."""
    lines = []
    for backbone in dict.fromkeys(row["backbone"] for table in tables for row in table["rows"]):
        cells = [headline_cell(main_target_stats(table, backbone)) for table in tables]
        if pooled:  # pooled over the same tables: every backbone has a row
            cells.append(headline_cell(next(row["stats"] for row in pooled["rows"] if row["backbone"] == backbone)))
        lines.append(f"| {backbone} | " + " | ".join(cells) + " |")
    return lines


def render_headline(summary: dict, cfg: AggregateConfig, full_tables: str) -> str:
    """One table per regime and preset: backbones x datasets, IQM at each env's main target with its
    95% interval and the number of seeds, the datasets pooled, and the data's own mean episode beside them."""
    if not summary["cells"]:
        return "\n".join(provenance(summary, cfg))
    lines = provenance(summary, cfg) + [
        "IQM of the normalized return (D4RL's x100 scale) over seeds at each env's main target, "
        "[95% stratified-bootstrap interval] (seeds); the pooled column takes every run of the datasets on which "
        "every backbone has a seed, and the last row is the dataset's own mean episode (averaged where pooled). "
        f"Every statistic, the commands and the machines: [{full_tables}]({full_tables}).", ""]
    groups = defaultdict(list)
    for table in summary["tables"]:
        groups[table["context"], table["preset"]].append(table)
    for (context, preset), tables in sorted(groups.items()):
        pooled = next((group for group in summary["all_datasets"]
                       if (group["context"], group["preset"]) == (context, preset)), None)
        data_means = [table["data_mean"] for table in tables] + ([pooled["data_mean"]] if pooled else [])
        lines += [f"**{context} regime, {preset} preset**", "",
                  "| backbone | " + " | ".join(table["task"] for table in tables)
                  + (f" | pooled: the {len(pooled['tasks'])} datasets every backbone has |" if pooled else " |"),
                  "|---|" + "---|" * (len(tables) + bool(pooled)), *backbone_rows(tables, pooled)]
        lines += ["| the data's mean episode | " + " | ".join(fmt(mean) for mean in data_means) + " |", ""]
    return "\n".join(lines).rstrip() + "\n"


def render(summary: dict, cfg: AggregateConfig, command: str, image_dir: str, all_targets: bool) -> str:
    lines = provenance(summary, cfg)
    if summary["sweep_commands"]:
        commands = dict.fromkeys(portable_command(c, cfg.results) for c in summary["sweep_commands"])
        lines += ["Reproduce:", "", "```bash", *commands, command, "```", "",
                  "Ran on:"]
        lines += [f"- {machine} ({count} cells)" for machine, count in summary["machines"].items()]
        lines += ["", "Code (a cell's scores reproduce on the code it ran):"]
        lines += [f"- {code} ({count} cells)" for code, count in sorted(summary["code"].items())]
        lines += ["", "Statistics over seeds whose cell finished; normalized return is D4RL's x100 scale, from "
                  "`evaluate.py` after training. The intervals are 95% stratified-bootstrap intervals "
                  f"(Agarwal et al. 2021, {cfg.reps} resamples); from a handful of seeds they are rough, and the "
                  "percentile bootstrap tends to make them too narrow. Wall s is a cell's training time on a machine "
                  "shared with other jobs, not a speed: `benchmarks/training.py` measures that.", ""]
    for table in summary["tables"]:
        for target in table["targets"] if all_targets else table["targets"][:1]:
            lines += render_table(table, target)
        lines += [f"![{table['title']}: normalized return per backbone]({image_dir}/{table['file']}-return.png)",
                  f"![{table['title']}: learning curves]({image_dir}/{table['file']}-curves.png)", ""]
    lines += render_regimes(summary, image_dir)
    for group in summary["all_datasets"]:
        lines += [f"#### All datasets, {group['context']} regime, {group['preset']} preset: "
                  f"{', '.join(group['tasks'])} pooled, "
                  f"each env's main target", "",
                  "| backbone | runs | mean | std | IQM | IQM 95% CI | mean 95% CI |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {row['backbone']} | {row['stats']['n']} | {stats_cells(row['stats'])} |" for row in group["rows"]]
        lines += ["", *render_per_dataset(group, summary["tables"]), *render_differences(group),
                  f"![all datasets, {group['context']} regime, {group['preset']} preset]"
                  f"({image_dir}/{group_file(group)}.png)", ""]
    for speed in summary["speed_plots"]:
        lines += [f"![{speed['title']}]({image_dir}/{speed['file']})", ""]
    return "\n".join(lines).rstrip() + "\n"


def group_tables(group: dict, tables: list[dict]) -> list[dict]:
    """The per-dataset tables of a pooled group, in its task order."""
    return [next(t for t in tables if t["task"] == task and t["context"] == group["context"]
                 and t["preset"] == group["preset"]) for task in group["tasks"]]


def group_file(group: dict) -> str:
    return f"all-datasets-{group['context']}-{group['preset']}"


def render_per_dataset(group: dict, tables: list[dict]) -> list[str]:
    """Laid out like Feng et al.'s table: a row per dataset and the average, our backbones' means over
    seeds, then the published figures for D4RL's files in their own columns."""
    backbones = [row["backbone"] for row in group["rows"]]
    own = group_tables(group, tables)
    published = [t["published"] for t in own]
    lines = [f"Per dataset, mean over seeds at each env's main target, beside the data's own mean episode; the "
             f"average is over the {len(group['tasks'])} datasets (Feng et al. average nine). Published figures "
             f"are on D4RL's own files with the paper's recipe, not our runs:", "",
             "| dataset | " + " | ".join(backbones) + " | the data's mean | published: DT (Chen et al. 2021) | "
             "published: CORL DT |", "|---|" + "---|" * (len(backbones) + 3)]
    for i, task in enumerate(group["tasks"]):
        ours = [fmt(row["task_means"][i]) for row in group["rows"]] + [fmt(own[i]["data_mean"])]
        lines.append(f"| {task} | " + " | ".join(ours + [fmt(v) for v in published[i] or (None, None)]) + " |")
    ours = [fmt(float(np.mean(row["task_means"]))) for row in group["rows"]]
    ours.append(fmt(group["data_mean"]))
    theirs = [fmt(float(np.mean([p[k] for p in published]))) if all(published) else "–" for k in (0, 1)]
    lines += ["| average | " + " | ".join(ours + theirs) + " |", "",
              "Published nine-dataset averages (D4RL's files; not our runs): " + ", ".join(
                  f"{name} {value}" for name, value in PUBLISHED_AVERAGES.items()) + ".", ""]
    return lines


def difference_cells(difference: dict) -> str:
    """A difference's markdown cells: IQM difference | 95% interval | whether the interval supports it."""
    verdict = ("no interval: one seed" if difference["ci"] is None else "yes" if difference["supported"] else "no")
    return f"{fmt(difference['iqm_difference'])} | {fmt_interval(difference['ci'])} | {verdict}"


def render_differences(group: dict) -> list[str]:
    supported = [d for d in group["differences"] if d["supported"]]
    lines = ["Differences between backbones over the pooled datasets: IQM of the first minus IQM of the "
             "second, 95% stratified-bootstrap interval. The intervals support a difference where they "
             "exclude 0 (and every dataset has two seeds or more on both sides): " + (", ".join(f"{d['a']} - {d['b']}" for d in supported) if supported else "none") + ".", "",
             "| pair | IQM difference | 95% CI | supported |", "|---|---|---|---|"]
    lines += [f"| {d['a']} - {d['b']} | {difference_cells(d)} |" for d in group["differences"]]
    return lines + [""]


def regime_groups(summary: dict) -> dict:
    """Per (task, preset) with more than one regime: its tables, one per regime."""
    groups = defaultdict(list)
    for table in summary["tables"]:
        groups[table["task"], table["preset"]].append(table)
    return {key: tables for key, tables in groups.items() if len(tables) > 1}  # in the tables' order


def render_regimes(summary: dict, image_dir: str) -> list[str]:
    """Per dataset: backbones x regimes, IQM [95% interval] (seeds) at the main target."""
    lines = []
    for (task, preset), tables in regime_groups(summary).items():
        lines += [f"#### {task}, {preset} preset: regimes side by side, IQM [95% CI] (seeds) at target "
                  f"{int(tables[0]['main_target'])}", "",
                  "| backbone | " + " | ".join(t["context"] for t in tables) + " |", "|---|" + "---|" * len(tables),
                  *backbone_rows(tables)]
        lines += ["", f"![{task}: score by regime per backbone]({image_dir}/{task}-regimes-{preset}.png)", ""]
    if summary["regime_differences"]:
        lines += ["#### Regimes compared, per backbone on each dataset it ran in both, then pooled over them", "",
                  "IQM of the first regime minus IQM of the second at each env's main target, on one dataset or "
                  "pooled over the datasets named, 95% stratified-bootstrap interval; the intervals support a "
                  "difference where they exclude 0.", "",
                  "| preset | backbone | regimes | datasets | IQM difference | 95% CI | supported |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {d['preset']} | {d['backbone']} | {d['a']} - {d['b']} | "
                  f"{'pooled: ' if len(d['tasks']) > 1 else ''}{', '.join(d['tasks'])} | "
                  f"{difference_cells(d)} |" for d in summary["regime_differences"]]
        lines.append("")
    return lines


def plot_regimes(tables: list[dict], path: Path) -> None:
    """Grouped bars: per backbone, one bar per regime (IQM, 95% interval), the data's mean as a line."""
    backbones = list(dict.fromkeys(row["backbone"] for t in tables for row in t["rows"]))
    fig, ax = plt.subplots(figsize=(1.5 + 1.4 * len(backbones), 3.5))
    width = 0.8 / len(tables)
    for i, table in enumerate(tables):
        label = table["context"]  # on the regime's first bar only
        for j, backbone in enumerate(backbones):
            stats = main_target_stats(table, backbone)
            if stats["n"]:
                ax.bar(j + (i - (len(tables) - 1) / 2) * width, stats["iqm"], width, color=f"C{i}",
                       yerr=error_bar(stats, "iqm_ci"), capsize=3, label=label)
                label = None
    if tables[0]["data_mean"] is not None:
        ax.axhline(tables[0]["data_mean"], color="gray", linestyle="--", linewidth=1, label="data's mean")
    ax.set_xticks(range(len(backbones)), backbones)
    ax.set_ylabel(f"normalized return at {int(tables[0]['main_target'])} (IQM)")
    ax.set_title(f"{tables[0]['task']}: regimes", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_datasets(group: dict, tables: list[dict], path: Path) -> None:
    """Grouped bars: per dataset of the pooled group, one bar per backbone (IQM, 95% interval), and a line
    across them at the data's own mean episode."""
    fig, ax = plt.subplots(figsize=(2 + 1.3 * len(group["tasks"]), 3.8))
    backbones = [row["backbone"] for row in group["rows"]]
    width = 0.8 / len(backbones)
    for i, table in enumerate(group_tables(group, tables)):
        for j, backbone in enumerate(backbones):
            stats = main_target_stats(table, backbone)
            ax.bar(i + (j - (len(backbones) - 1) / 2) * width, stats["iqm"], width, color=f"C{j}",
                   yerr=error_bar(stats, "iqm_ci"), capsize=2, label=backbone if i == 0 else None)
        if table["data_mean"] is not None:
            ax.hlines(table["data_mean"], i - 0.45, i + 0.45, colors="0.5", linestyles="--",
                      label="the dataset's mean episode" if i == 0 else None)
    ax.set_xticks(range(len(group["tasks"])), group["tasks"], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("normalized return at the main target (IQM)")
    ax.set_title(f"all datasets, {group['context']} regime, {group['preset']} preset", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_returns(table: dict, path: Path) -> None:
    key = str(int(table["main_target"]))
    fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(table["rows"]), 3.5))
    for x, row in enumerate(table["rows"]):
        stats = row["stats"][key]
        ax.scatter([x] * len(row["scores"][key]), row["scores"][key], color="0.6", s=14, zorder=2,
                   label="seeds" if x == 0 else None)
        if stats["n"]:
            ax.errorbar([x], [stats["mean"]], yerr=error_bar(stats, "mean_ci"), fmt="o",
                        color="C0", capsize=4, zorder=3, label="mean, 95% CI" if x == 0 else None)
    if table["data_mean"] is not None:
        ax.axhline(table["data_mean"], linestyle="--", color="0.5", label="the dataset's mean episode")
    ax.set_xticks(range(len(table["rows"])), [row["backbone"] for row in table["rows"]])
    ax.set_xlim(-0.5, len(table["rows"]) - 0.5)
    ax.set_ylabel(f"normalized return, target {table['main_target']:.0f}")
    ax.set_title(table["title"], fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(table: dict, path: Path) -> None:
    fig, (returns, loss) = plt.subplots(1, 2, figsize=(9, 3.5))
    for row in table["rows"]:
        label = f"{row['backbone']} ({len(row['seeds'])} seeds)"
        returns.plot(row["curve"]["steps"], row["curve"]["mean"], marker="o", label=label)
        loss.plot(row["loss"]["steps"], row["loss"]["mean"], label=label)
    returns.set(xlabel="step", ylabel=f"eval normalized return, target {table['main_target']:.0f}")
    loss.set(xlabel="step", ylabel="training loss", yscale="log")
    returns.legend(fontsize=8)
    fig.suptitle(f"{table['title']}: mean over seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_speed(benchmark: dict, path: Path) -> str:
    """Training-step time against sequence length, log-log, from benchmarks/backbones.py's JSON; the title."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    lines = defaultdict(list)
    for entry in benchmark["sequence"]:
        lines[entry["backbone"]].append((entry["length"], entry["train_ms"]))
    for backbone, points in lines.items():
        ax.plot(*zip(*sorted(points)), marker="o", label=backbone)
    ax.set(xscale="log", yscale="log", xlabel="sequence length", ylabel="training step, ms")
    config = benchmark["config"]
    title = (f"backbones.py on {benchmark['device']} ({benchmark['machine']}): batch {config['batch_size']}, "
             f"d_model {config['d_model']}, {config['n_layers']} layers")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return title


def main(cfg: AggregateConfig, command: str = "python aggregate.py") -> dict:
    paths = sorted(Path(cfg.results).glob("*.json"))
    if not paths:
        raise ValueError(f"no cell files (*.json) in --results {cfg.results}; allowed: a folder that sweep.py "
                         f"wrote cells into (sweep.py --results)")
    records = [json.loads(path.read_text()) for path in paths]
    versions = Counter(cell_version(record) for record in records)
    version = cfg.agent_version or max((v for v in versions if v is not None), default=None)
    summary = summarize([record for record in records if cell_version(record) == version], cfg.reps, cfg.seed)
    summary["left_out"] = {v: n for v, n in versions.items() if v != version}
    plots = Path(cfg.out) / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    for table in summary["tables"]:
        plot_returns(table, plots / f"{table['file']}-return.png")
        plot_curves(table, plots / f"{table['file']}-curves.png")
    for (task, preset), tables in regime_groups(summary).items():
        plot_regimes(tables, plots / f"{task}-regimes-{preset}.png")
    for group in summary["all_datasets"]:
        plot_datasets(group, summary["tables"], plots / f"{group_file(group)}.png")
    summary["speed_plots"] = []
    for benchmark_path in sorted(Path(cfg.speed).glob("backbones-*.json")):
        file = f"speed-{benchmark_path.stem.removeprefix('backbones-')}.png"
        title = plot_speed(json.loads(benchmark_path.read_text()), plots / file)
        summary["speed_plots"].append({"file": file, "title": title, "source": str(benchmark_path)})
    with atomic_path(Path(cfg.out) / "sweep.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    with atomic_path(Path(cfg.out) / "sweep.md") as tmp:
        tmp.write_text(render(summary, cfg, command, "plots", all_targets=True))
    if cfg.docs:
        image_dir = os.path.relpath(plots, Path(cfg.docs).resolve().parent)
        replace_marked_section(Path(cfg.docs), RESULTS_SECTION, render(summary, cfg, command, image_dir, all_targets=False) +
                        f"\nEvery target return: `{Path(cfg.out) / 'sweep.md'}`; the statistics as JSON: "
                        f"`{Path(cfg.out) / 'sweep.json'}`.\n")
    if cfg.readme:
        full_tables = os.path.relpath(Path(cfg.docs or Path(cfg.out) / "sweep.md").resolve(),
                                      Path(cfg.readme).resolve().parent)
        replace_marked_section(Path(cfg.readme), RESULTS_SECTION, render_headline(summary, cfg, full_tables))
    print(f"{len(paths)} cells, {summary['cells']} of agent version {version} -> {Path(cfg.out) / 'sweep.md'}, "
          f"{Path(cfg.out) / 'sweep.json'}, {plots}/" + "".join(f", {page}" for page in (cfg.docs, cfg.readme) if page))
    return summary


if __name__ == "__main__":
    with expected_errors():
        main(parse_config(AggregateConfig, __doc__), shlex.join(["python", "aggregate.py", *sys.argv[1:]]))
