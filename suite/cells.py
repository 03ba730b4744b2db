"""The sweep's cells summarized: reading the cell JSONs sweep.py writes, grouping them into one table per
(env-dataset, regime, preset), the statistics per backbone, the datasets pooled and the regimes compared.

Cells of different agent versions, or of one task trained on different data versions, are never pooled.
Failed cells are listed with their error and never enter the statistics. Published D4RL figures are kept
beside ours, never mixed into them.
"""
import json
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

from envs import DATASETS, env_spec
from envs.load import recorded_data_id
from minrnn import BACKBONES
from suite.statistics import differences, statistics

CELLS = "results/cells"  # where sweep.py writes its cells by default
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


def with_regime(record: dict) -> dict:
    """`record` with its regime under "regime" in its cell and its train config: cells made before the
    field was renamed call it "context"."""
    for part in ("cell", "train_config"):
        if "context" in (record.get(part) or {}):
            record[part].setdefault("regime", record[part].pop("context"))
    return record


def load_cells(folder: str) -> list[dict]:
    """The cell JSONs in `folder` (none if it is missing), by file name, each through `with_regime`."""
    records = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            records.append(with_regime(json.loads(path.read_text())))
        except ValueError as error:  # cut short, or not text: json.JSONDecodeError, UnicodeDecodeError
            raise ValueError(f"{path}: not valid JSON ({error}); a cell file cut short or edited: restore it "
                             f"(git checkout -- {path}) or delete it and rerun the sweep that made it") from None
    return records


def of_version(records: list[dict], version: int) -> tuple[list[dict], dict]:
    """The cells of agent `version` (0: the newest among them) and, per other version, how many are left out."""
    versions = Counter(cell_version(record) for record in records)
    version = version or max((v for v in versions if v is not None), default=None)
    return [r for r in records if cell_version(r) == version], {v: n for v, n in versions.items() if v != version}


def normalized_return(record: dict, target: float) -> float:
    (result,) = [r for r in record["evaluation"]["results"] if r["target_return"] == target]
    return result["normalized_mean"]


def curve(record: dict, tag: str) -> dict:
    """One tensorboard curve of a cell, step -> value."""
    return {step: value for step, value in record["curves"].get(tag, [])}


def mean_curve(records: list[dict], tag: str) -> dict:
    """The mean over seeds of one tensorboard curve, at the steps every seed logged."""
    series = [curve(record, tag) for record in records]
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


def check_poolable(records: list[dict]) -> None:
    """Stop, naming examples of each, at cells of different agent versions, at seeds of one backbone's
    row trained for different numbers of steps, or at cells of one task trained on different data versions:
    pooled, they would measure two things as one."""
    versions = defaultdict(list)
    for record in records:
        versions[cell_version(record)].append(record["cell"]["name"])
    if len(versions) > 1:
        raise ValueError("cells of different agent versions cannot be pooled: " + "; ".join(
            f"version {v}: {len(names)} cells, e.g. {names[0]}" for v, names in sorted(versions.items()))
            + "; put each version's cells in its own --results folder")
    budgets = defaultdict(lambda: defaultdict(list))
    for record in records:
        if record["status"] == "ok":
            cell = record["cell"]
            key = cell["task"], cell["regime"], cell.get("preset", "cpu"), cell["backbone"]
            budgets[key][record["train_config"]["steps"]].append(cell["name"])
    for (task, regime, preset, backbone), by_steps in budgets.items():
        if len(by_steps) > 1:
            raise ValueError(f"cells of {backbone} on {task}, {regime} regime, {preset} preset, trained for different "
                             "numbers of steps cannot be pooled: " + "; ".join(
                                 f"{steps} steps: {len(names)} cells, e.g. {names[0]}"
                                 for steps, names in sorted(by_steps.items()))
                             + "; put each budget's cells in its own --results folder")
    made_on = defaultdict(list)
    for record in records:
        made_on[record["cell"]["task"], cell_data(record)].append(record["cell"]["name"])
    for task in {task for task, _ in made_on}:
        by_data = {data: names for (t, data), names in made_on.items() if t == task}
        if len(by_data) > 1:
            raise ValueError(f"cells of {task} trained on different data versions cannot be pooled: " + "; ".join(
                f"{data}: {len(names)} cells, e.g. {names[0]}" for data, names in sorted(by_data.items()))
                + "; put each version's cells in its own --results folder")


def table_groups(records: list[dict]) -> list[tuple[tuple[str, str, str], list[dict]]]:
    """The cells per (task, regime, preset), by env, then D4RL's and the paper's order of the datasets
    (medium, medium-replay, expert, medium-expert)."""
    groups = defaultdict(list)
    for record in records:  # cells written before presets were part of a cell ran the cpu preset
        groups[record["cell"]["task"], record["cell"]["regime"], record["cell"].get("preset", "cpu")].append(record)

    def paper_order(item):
        (task, regime, preset), group = item
        env, dataset = group[0]["cell"]["env"], group[0]["cell"]["dataset"]
        return env, DATASETS.index(dataset) if dataset in DATASETS else len(DATASETS), task, regime, preset

    return sorted(groups.items(), key=paper_order)


def backbone_cells(group: list[dict]):
    """Per backbone of a group, in minrnn's order: its cells by seed, and the failed ones as the tables list them."""
    for backbone in sorted({r["cell"]["backbone"] for r in group}, key=backbone_rank):
        cells = sorted((r for r in group if r["cell"]["backbone"] == backbone), key=lambda r: r["cell"]["seed"])
        failed = [r for r in cells if r["status"] != "ok"]
        yield backbone, [r for r in cells if r["status"] == "ok"], [
            {"name": r["cell"]["name"], "seed": r["cell"]["seed"], "error": r["error"]} for r in failed]


def table_keys(task: str, regime: str, preset: str, group: list[dict]) -> dict:
    """What a table of one (task, regime, preset) says of its cells' data, its targets and where its plots go."""
    env, dataset = group[0]["cell"]["env"], group[0]["cell"]["dataset"]
    targets = env_spec(env).target_returns
    source, published_key = data_source(env, dataset)
    copies = data_copies(group)
    return {"task": task, "env": env, "dataset": dataset, "data_id": cell_data(group[0]),
            "regime": regime, "preset": preset,
            "title": f"{task}, {regime} regime, {preset} preset", "file": f"{task}-{regime}-{preset}",
            "main_target": targets[0], "targets": targets, "data": source, "data_copies": copies,
            "data_mean": float(np.mean([c["mean"] for c in copies])) if copies else None,
            "published_key": published_key, "published": PUBLISHED.get(published_key)}


def provenance_counts(records: list[dict]) -> dict:
    """The machines and code commits that made the cells, and the sweep commands that ran them."""
    return {"machines": dict(Counter(describe(r["machine"]) for r in records if r.get("machine"))),
            "code": dict(Counter(describe_code(r.get("code")) for r in records)),
            "sweep_commands": sorted({r["sweep_command"] for r in records if r.get("sweep_command")})}


def summarize(records: list[dict], reps: int, seed: int) -> dict:
    """The tables, the datasets pooled and the regimes compared, of cells of one agent version."""
    check_poolable(records)
    rng = np.random.default_rng(seed)
    tables = []
    for (task, regime, preset), group in table_groups(records):
        table = {**table_keys(task, regime, preset, group), "rows": []}
        targets = table["targets"]
        for backbone, ok, failed in backbone_cells(group):
            scores = {str(int(t)): [normalized_return(r, t) for r in ok] for t in targets}
            table["rows"].append({
                "backbone": backbone, "seeds": [r["cell"]["seed"] for r in ok], "failed": failed,
                "steps": ok[0]["train_config"]["steps"] if ok else None,  # one budget per row: check_poolable
                "scores": scores,
                "stats": {key: statistics([np.array(values)], reps, rng) for key, values in scores.items()},
                "curve": mean_curve(ok, f"eval/normalized_return_{int(targets[0])}"),
                "loss": mean_curve(ok, "train/loss"),
                "train_s": float(np.mean([r["train_s"] for r in ok])) if ok else None})
        tables.append(table)
    return {"cells": len(records), "agent_version": cell_version(records[0]) if records else None, "tables": tables,
            "all_datasets": pooled(tables, reps, rng), "regime_differences": regime_differences(tables, reps, rng),
            **provenance_counts(records)}


def pooled(tables: list[dict], reps: int, rng: np.random.Generator) -> list[dict]:
    """Per regime and preset, every backbone over the tasks on which all of them have an ok seed (a grid
    still filling in is compared on the datasets it has filled), at each env's main target."""
    by_regime = defaultdict(list)
    for table in tables:
        by_regime[table["regime"], table["preset"]].append(table)
    result = []
    for (regime, preset), group in sorted(by_regime.items()):
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
        result.append({"regime": regime, "preset": preset, "tasks": [t["task"] for t in shared], "rows": rows,
                       "data_mean": float(np.mean(data_means)) if None not in data_means else None,
                       "differences": differences(runs, reps, rng)})
    return result


def regime_differences(tables: list[dict], reps: int, rng: np.random.Generator) -> list[dict]:
    """Per preset and backbone, each pair of regimes compared on each task on which the backbone has ok seeds
    in both, then pooled over those tasks, at each env's main target: whether a regime beats another (issue
    14's question; its rule reads the pooled row)."""
    scores = defaultdict(lambda: defaultdict(dict))  # (preset, backbone) -> regime -> task -> main-target scores
    for table in tables:
        for row in table["rows"]:
            if row["seeds"]:
                scores[table["preset"], row["backbone"]][table["regime"]][table["task"]] = np.array(
                    row["scores"][str(int(table["main_target"]))])
    task_order = {table["task"]: i for i, table in enumerate(tables)}
    result = []
    for preset, backbone in sorted(scores, key=lambda key: (key[0], *backbone_rank(key[1]))):
        by_regime = scores[preset, backbone]
        for a, b in combinations(sorted(by_regime), 2):
            tasks = sorted(by_regime[a].keys() & by_regime[b].keys(), key=task_order.get)
            for compared in [[task] for task in tasks] + ([tasks] if len(tasks) > 1 else []):
                runs = {regime: [by_regime[regime][task] for task in compared] for regime in (a, b)}
                result += [{"preset": preset, "backbone": backbone, "tasks": compared, **d}
                           for d in differences(runs, reps, rng)]
    return result


def regime_groups(summary: dict) -> dict:
    """Per (task, preset) with more than one regime: its tables, one per regime."""
    groups = defaultdict(list)
    for table in summary["tables"]:
        groups[table["task"], table["preset"]].append(table)
    return {key: tables for key, tables in groups.items() if len(tables) > 1}  # in the tables' order


def group_tables(group: dict, tables: list[dict]) -> list[dict]:
    """The per-dataset tables of a pooled group, in its task order."""
    return [next(t for t in tables if t["task"] == task and t["regime"] == group["regime"]
                 and t["preset"] == group["preset"]) for task in group["tasks"]]


def group_file(group: dict) -> str:
    return f"all-datasets-{group['regime']}-{group['preset']}"


def main_target_stats(table: dict, backbone: str) -> dict:
    """A backbone's statistics at the table's main target ({"n": 0} when it has no row there)."""
    row = next((row for row in table["rows"] if row["backbone"] == backbone), None)
    return row["stats"][str(int(table["main_target"]))] if row else {"n": 0}


def describe(machine: dict) -> str:
    gpu = f", {machine['gpu']}" if machine.get("gpu") else ""
    return (f"{machine['cpu']}, {machine['cpu_count']} cores, {machine['platform']}, torch {machine['torch']}, "
            f"device {machine['device']}{gpu}")


def describe_code(code: dict | None) -> str:
    if code is None:  # cells from before sweep.py recorded the commit, or run outside a git checkout
        return "commit not recorded"
    return f"commit {code['commit'][:12]}" + (" with modified Python files" if code["python_files_modified"] else "")
