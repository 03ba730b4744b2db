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
import shlex
import sys

from suite.aggregating import AggregateConfig, aggregate
from suite.runutils import expected_errors, parse_config

if __name__ == "__main__":
    with expected_errors():
        aggregate(parse_config(AggregateConfig, __doc__), shlex.join(["python", "aggregate.py", *sys.argv[1:]]))
