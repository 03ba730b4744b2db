"""The summaries of `suite.cells` as figures (PNG, matplotlib without a display), and the speed benchmark's
(benchmarks/backbones.py's JSON) that the results page shows beside them."""
from collections import defaultdict
from pathlib import Path

import matplotlib

from suite.cells import group_file, group_tables, main_target_stats, regime_groups

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def error_bar(stats: dict, key: str) -> list[list[float]] | None:
    """matplotlib's yerr for stats[key] around its point estimate; None without an interval."""
    point = stats[key.removesuffix("_ci")]
    return None if stats[key] is None else [[point - stats[key][0]], [stats[key][1] - point]]


def plot_regimes(tables: list[dict], path: Path) -> None:
    """Grouped bars: per backbone, one bar per regime (IQM, 95% interval), the data's mean as a line."""
    backbones = list(dict.fromkeys(row["backbone"] for t in tables for row in t["rows"]))
    fig, ax = plt.subplots(figsize=(1.5 + 1.4 * len(backbones), 3.5))
    width = 0.8 / len(tables)
    for i, table in enumerate(tables):
        label = table["regime"]  # on the regime's first bar only
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
    save(fig, path)


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
    ax.set_title(f"all datasets, {group['regime']} regime, {group['preset']} preset", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, path)


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
    save(fig, path)


def backbone_label(row: dict) -> str:
    """A legend entry: the backbone and how many seeds its line is over."""
    seeds = len(row["seeds"])
    return f"{row['backbone']} ({seeds} seed{'' if seeds == 1 else 's'})"


def plot_curves(table: dict, path: Path) -> None:
    fig, (returns, loss) = plt.subplots(1, 2, figsize=(9, 3.5))
    for row in table["rows"]:
        label = backbone_label(row)
        returns.plot(row["curve"]["steps"], row["curve"]["mean"], marker="o", label=label)
        loss.plot(row["loss"]["steps"], row["loss"]["mean"], label=label)
    returns.set(xlabel="step", ylabel=f"eval normalized return, target {table['main_target']:.0f}")
    loss.set(xlabel="step", ylabel="training loss", yscale="log")
    returns.legend(fontsize=8)
    fig.suptitle(f"{table['title']}: mean over seeds", fontsize=10)
    save(fig, path)




def plot_band(ax, x: list, iqm: list, intervals: list, color: str, label: str) -> None:
    """A line of IQMs with its 95% intervals as a band (where there is one: no interval from one seed)."""
    ax.plot(x, iqm, marker="o", markersize=3, color=color, label=label)
    banded = [(at, interval) for at, interval in zip(x, intervals) if interval]
    if banded:
        ax.fill_between([at for at, _ in banded], [low for _, (low, _) in banded], [high for _, (_, high) in banded],
                        color=color, alpha=0.2, linewidth=0)


def mark_data(ax, dataset: dict) -> None:
    """The data's own returns as horizontal marks: its mean episode, and where known its 10th-90th percentile."""
    if dataset["data_range"]:
        ax.axhspan(*dataset["data_range"], color="0.9", label="the data's episodes, 10th to 90th percentile")
    if dataset["data_mean"] is not None:
        ax.axhline(dataset["data_mean"], linestyle="--", color="0.5", linewidth=1, label="the data's mean episode")


def backbones_with_seeds(dataset: dict) -> list[tuple[int, dict]]:
    """The rows of the backbones with an ok seed, each with its index: its colour in every figure of the dataset."""
    return [(i, row) for i, row in enumerate(dataset["rows"]) if row["seeds"]]


def plot_long_curves(dataset: dict, path: Path) -> None:
    """Score against training step per backbone: IQM over seeds, its 95% interval as a band."""
    fig, ax = plt.subplots(figsize=(7, 4))
    mark_data(ax, dataset)
    for i, row in backbones_with_seeds(dataset):
        plot_band(ax, row["curve"]["steps"], row["curve"]["iqm"], row["curve"]["iqm_ci"], f"C{i}",
                  backbone_label(row))
    ax.set(xlabel="training step", ylabel=f"normalized return at target {dataset['main_target']:.0f} (IQM)")
    ax.set_title(f"{dataset['title']}: along training", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, path)


def plot_conditioning(dataset: dict, path: Path) -> None:
    """Achieved against asked-for return per backbone, both normalized (the raw targets on the top axis):
    IQM over seeds with its 95% interval as a band, the diagonal where an agent achieves what it is asked."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    mark_data(ax, dataset)
    targets = {t["target"]: t["normalized_target"] for row in dataset["rows"] for t in row["conditioning"]}
    if targets:
        ax.plot([min(targets.values()), max(targets.values())], [min(targets.values()), max(targets.values())],
                color="k", linestyle=":", linewidth=1, label="achieved = target")
        top = ax.secondary_xaxis("top")
        top.set_xticks(list(targets.values()), [f"{target:.0f}" for target in targets])
        top.set_xlabel("target return, raw", fontsize=8)
    for i, row in backbones_with_seeds(dataset):
        points = [t for t in row["conditioning"] if t["stats"]["n"]]
        plot_band(ax, [t["normalized_target"] for t in points], [t["stats"]["iqm"] for t in points],
                  [t["stats"]["iqm_ci"] for t in points], f"C{i}", backbone_label(row))
    ax.set(xlabel="target return, normalized", ylabel="achieved normalized return (IQM)")
    ax.set_title(f"{dataset['title']}: return conditioning", fontsize=10)
    ax.legend(fontsize=7)
    save(fig, path)


def plot_long(summary: dict, folder: Path) -> None:
    for dataset in summary["datasets"]:
        plot_long_curves(dataset, folder / dataset["plots"]["curves"])
        plot_conditioning(dataset, folder / dataset["plots"]["conditioning"])


def plot_tables(summary: dict, folder: Path) -> None:
    """Every figure of suite.cells' summary, under the names suite.report links."""
    for table in summary["tables"]:
        plot_returns(table, folder / f"{table['file']}-return.png")
        plot_curves(table, folder / f"{table['file']}-curves.png")
    for (task, preset), tables in regime_groups(summary).items():
        plot_regimes(tables, folder / f"{task}-regimes-{preset}.png")
    for group in summary["all_datasets"]:
        plot_datasets(group, summary["tables"], folder / f"{group_file(group)}.png")


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
    save(fig, path)
    return title


