"""Aggregate the sweep's cell JSONs into tables, statistics, plots, the README's headline table and
the results page of the docs; and the long cells (50,000 steps, issue 35) into their own section of it.

    python aggregate.py                  # results/cells/*.json -> results/sweep.md, results/sweep.json, results/plots/,
                                         # README.md's headline, docs/results.md's tables; results/long-cells/*.json
                                         # -> results/long-cells.md, .json, results/plots/long-*, the long-results
                                         # sections of README.md (a table per dataset) and docs/results.md (all)
    python aggregate.py --readme "" --docs ""           # leave the README and the docs alone
    python aggregate.py --agent-version 1 --readme "" --docs "" --long-results "" --out /tmp/v1   # the cells of agent version 1

Cells of different agent versions are never pooled: the tables hold the cells of one version (the
newest present, or --agent-version), and the others are named as left out.

Per (env-dataset, regime) and backbone, over the seeds whose cell is ok: mean, standard deviation,
interquartile mean (IQM: the mean of the middle half of the runs) and 95% intervals for both from the
stratified bootstrap of Agarwal et al. 2021 (suite/statistics.py): runs are resampled within each task
(env-dataset), never across tasks. The long cells add, per dataset: the IQM along training, at
10k, 25k and the last step, the mean of each run's last five evaluations, the probability that one
backbone beats another, and the achieved return against the target asked for.

Failed cells are listed with their error and never enter the statistics. Published D4RL figures
are shown beside ours in their own table, never mixed into them.
"""
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.plots import plot_speed
from suite.cells import CELLS, load_cells, of_version, summarize
from suite.long_cells import LONG_CELLS, data_ranges, summarize_long
from suite.plots import plot_long, plot_tables
from suite.report import render, render_headline, render_long, render_long_headline
from suite.runutils import expected_errors, parse_config, replace_marked_section, write_report

RESULTS_SECTION = "sweep-results"  # the marked section of the README and docs/results.md that aggregate.py writes
LONG_SECTION = "long-results"  # the marked section of the README and docs/results.md that gets the long cells
LONG_ANCHOR = "#long-cells-50000-steps-learning-curves-and-return-conditioning"  # that section's heading in the docs


@dataclass
class AggregateConfig:
    results: str = CELLS  # the cell JSONs sweep.py writes
    out: str = "results"  # sweep.md, sweep.json, long-cells.md, long-cells.json and plots/
    readme: str = "README.md"  # its sweep-results and long-results sections get the headline tables; "" to leave it
    docs: str = "docs/results.md"  # its sweep-results and long-results sections get the full tables; "" to leave it
    agent_version: int = 0  # the cells of this agent version; 0: the newest version among the cells
    long_results: str = LONG_CELLS  # the long cells; their tables and plots only where it holds cells; "" to leave them
    data_stats: str = "benchmarks/results/datasets-stats.json"  # python -m envs.stats's JSON: the data's return band
    speed: str = "benchmarks/results"  # backbones-<device>.json from benchmarks/backbones.py
    reps: int = 2000  # bootstrap resamples
    seed: int = 0  # of the bootstrap, so that the same cells give the same tables


def main(cfg: AggregateConfig, command: str = "python aggregate.py") -> dict:
    """Every cell is read before anything is written: a corrupt one stops the command with nothing changed."""
    records = load_cells(cfg.results)
    if not records:
        raise ValueError(f"no cell files (*.json) in --results {cfg.results}; allowed: a folder that sweep.py "
                         f"wrote cells into (sweep.py --results)")
    long_records = load_cells(cfg.long_results) if cfg.long_results else []
    cells, left_out = of_version(records, cfg.agent_version)
    summary = summarize(cells, cfg.reps, cfg.seed) | {"left_out": left_out, "speed_plots": []}
    long = summarize_long(long_records, data_ranges(cfg.data_stats), cfg.reps, cfg.seed) if long_records else None
    plots = Path(cfg.out) / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    plot_tables(summary, plots)
    for benchmark_path in sorted(Path(cfg.speed).glob("backbones-*.json")):
        file = f"speed-{benchmark_path.stem.removeprefix('backbones-')}.png"
        title = plot_speed(json.loads(benchmark_path.read_text()), plots / file)
        summary["speed_plots"].append({"file": file, "title": title, "source": str(benchmark_path)})
    write_report(cfg.out, "sweep", summary, render(summary, cfg.results, cfg.reps, command, "plots", all_targets=True))
    image_dir = os.path.relpath(plots, Path(cfg.docs).resolve().parent) if cfg.docs else ""
    if cfg.docs:
        replace_marked_section(Path(cfg.docs), RESULTS_SECTION,
                               render(summary, cfg.results, cfg.reps, command, image_dir, all_targets=False)
                               + f"\nEvery target return: `{Path(cfg.out) / 'sweep.md'}`; the statistics as JSON: "
                               f"`{Path(cfg.out) / 'sweep.json'}`.\n")
    if cfg.readme:
        full_tables = os.path.relpath(Path(cfg.docs or Path(cfg.out) / "sweep.md").resolve(),
                                      Path(cfg.readme).resolve().parent)
        replace_marked_section(Path(cfg.readme), RESULTS_SECTION, render_headline(summary, cfg.results, full_tables))
    if long:
        plot_long(long, plots)
        write_report(cfg.out, "long-cells", long, render_long(long, cfg.long_results, command, "plots"))
        if cfg.docs:
            replace_marked_section(Path(cfg.docs), LONG_SECTION,
                                   render_long(long, cfg.long_results, command, image_dir))
        if cfg.readme:
            long_tables = os.path.relpath(Path(cfg.docs or Path(cfg.out) / "long-cells.md").resolve(),
                                          Path(cfg.readme).resolve().parent) + (LONG_ANCHOR if cfg.docs else "")
            replace_marked_section(Path(cfg.readme), LONG_SECTION, render_long_headline(long, cfg.long_results, long_tables))
    written = ["sweep.md", "sweep.json", *(["long-cells.md", "long-cells.json"] if long else []), "plots/"]
    print(f"{len(records)} cells, {summary['cells']} of agent version {summary['agent_version']}; "
          f"{len(long_records)} long cells -> " + ", ".join(
              [str(Path(cfg.out) / file) for file in written] + [page for page in (cfg.docs, cfg.readme) if page]))
    return summary


if __name__ == "__main__":
    with expected_errors():
        main(parse_config(AggregateConfig, __doc__), shlex.join(["python", "aggregate.py", *sys.argv[1:]]))
