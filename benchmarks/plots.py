"""The benchmarks' figures: training-step time against sequence length from benchmarks/backbones.py's
JSON (aggregate.py draws it into the results page)."""
from collections import defaultdict
from pathlib import Path

from suite.plots import plt, save


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


