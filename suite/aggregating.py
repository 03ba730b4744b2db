"""Aggregating the cell JSONs into tables, statistics, plots and the marked sections of the README and
docs/results.md: aggregate.py's config and its work."""
import json
import os
from dataclasses import dataclass
from pathlib import Path

from suite.cells import CELLS, load_cells, of_version, summarize
from suite.long_cells import LONG_CELLS, data_ranges, summarize_long
from suite.plots import plot_long, plot_speed, plot_tables
from suite.report import render, render_headline, render_long, render_long_headline
from suite.runutils import replace_marked_section, write_report

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


def aggregate(cfg: AggregateConfig, command: str = "python aggregate.py") -> dict:
    """aggregate.py's work (its --help says what); `command` is named in what it writes as the way to regenerate
    it. Every cell is read before anything is written: a corrupt one stops the command with nothing changed."""
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

