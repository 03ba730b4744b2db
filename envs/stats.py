"""The data table: the suite's datasets beside D4RL's, and the experts they are built from.

    python -m envs.stats                                        # every env
    python -m envs.stats --envs hopper --docs docs/datasets.md  # and into the page's data-table section

Per dataset (by default D4RL's three per env, then the expert data, which should reach 80 normalized):
its versioned id, episodes, transitions, normalized return (mean; 10th, 50th and 90th percentiles), the
median episode length, and D4RL's episodes, transitions and mean (envs.specs.D4RL_STATS, which holds
no expert figures) with the gap between the two means. A dataset is loaded as training loads it (the
suite's own are generated from the shipped policies on first use: minutes for 1M transitions); one that
cannot be built (no expert policy yet) gets a row saying why. Per env, the expert policy's evaluation from its manifest.
Writes JSON to `json` and prints the markdown table.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from envs.load import load_dataset
from envs.policies import NoExpertPolicy, load_manifest
from envs.specs import D4RL_STATS, DATASETS, ENVS
from suite.runutils import atomic_path, check_choices, expected_errors, parse_config, replace_marked_section

DATA_TABLE_SECTION = "data-table"


@dataclass
class StatsConfig:
    envs: list[str] = field(default_factory=lambda: ["hopper", "halfcheetah", "walker2d"])
    datasets: list[str] = field(default_factory=lambda: ["medium", "medium-replay", "medium-expert", "expert"])
    json: str = "benchmarks/results/datasets-stats.json"
    docs: str = ""  # a markdown page whose data-table section gets the table; "" to leave it


def dataset_row(env: str, dataset: str) -> dict:
    """The statistics of the suite's `<env>-<dataset>` beside D4RL's, or why it cannot be built."""
    d4rl = D4RL_STATS.get(f"{env}-{dataset}")
    row = {"env": env, "dataset": dataset, "d4rl": d4rl and vars(d4rl)}
    try:
        loaded = load_dataset(f"{env}-{dataset}")
    except NoExpertPolicy as error:
        return {**row, "missing": str(error)}  # the generator says how far the run got
    returns = loaded.normalized_returns()
    lengths = np.array([len(episode.rewards) for episode in loaded.episodes])
    row |= {"id": loaded.version_id, "episodes": len(loaded.episodes), "transitions": loaded.num_transitions,
            "mean": float(returns.mean()), "percentiles": dict(zip(("10", "50", "90"),
                                                                   np.percentile(returns, [10, 50, 90]).tolist())),
            "median_length": float(np.median(lengths))}
    if d4rl:
        row["mean_minus_d4rl"] = row["mean"] - d4rl.mean_normalized
    return row


def expert_row(env: str) -> dict:
    manifest = load_manifest(env)[0]
    return {"env": env, "expert": manifest.expert and vars(manifest.expert), "run": manifest.expert_source,
            "data_version": manifest.data_version}


def render(rows: list[dict], experts: list[dict]) -> str:
    lines = ["| dataset | id | episodes | transitions | normalized return: mean | p10 / p50 / p90 | median length "
             "| D4RL: episodes | transitions | mean | ours - D4RL |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        d4rl = row["d4rl"] or {}
        theirs = (f"{d4rl['episodes']:,} | {d4rl['transitions']:,} | {d4rl['mean_normalized']:.0f}" if d4rl
                  else "– | – | –")
        if "missing" in row:  # how far the SAC run got is in the JSON
            lines.append(f"| {row['env']}-{row['dataset']} | not built: no expert policy for {row['env']} yet "
                         f"| | | | | | {theirs} | – |")
            continue
        p = row["percentiles"]
        gap = f"{row['mean_minus_d4rl']:+.1f}" if "mean_minus_d4rl" in row else "–"
        lines.append(f"| {row['env']}-{row['dataset']} | `{row['id']}` | {row['episodes']:,} | {row['transitions']:,} "
                     f"| {row['mean']:.1f} | {p['10']:.1f} / {p['50']:.1f} / {p['90']:.1f} "
                     f"| {row['median_length']:.0f} | {theirs} | {gap} |")
    lines += ["", "| expert policy | SAC run | step | normalized return, deterministic | sampled actions |",
              "|---|---|---|---|---|"]
    for row in experts:
        expert, run = row["expert"], Path(row["run"]).name  # its path on the machine that made it: in the JSON
        if expert is None:
            lines.append(f"| {row['env']} | {run} | none yet | | |")
            continue
        sampled = "–" if expert["sampled_normalized"] is None else f"{expert['sampled_normalized']:.1f}"
        lines.append(f"| {row['env']} | {run} | {expert['step']:,} | {expert['normalized']:.1f} | {sampled} |")
    return "\n".join(lines) + "\n"


def main(cfg: StatsConfig) -> dict:
    check_choices("--envs", cfg.envs, sorted(ENVS))
    check_choices("--datasets", cfg.datasets, DATASETS)
    rows = [dataset_row(env, dataset) for env in cfg.envs for dataset in cfg.datasets]
    experts = [expert_row(env) for env in cfg.envs]
    table = render(rows, experts)
    print(table)
    with atomic_path(cfg.json) as tmp:
        tmp.write_text(json.dumps({"datasets": rows, "experts": experts}, indent=1))
    if cfg.docs:
        replace_marked_section(Path(cfg.docs), DATA_TABLE_SECTION,
                               "Made by `python -m envs.stats` (JSON: `" + cfg.json + "`).\n\n" + table)
    return {"datasets": rows, "experts": experts}


if __name__ == "__main__":
    with expected_errors():
        main(parse_config(StatsConfig, __doc__))
