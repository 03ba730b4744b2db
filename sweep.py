"""Run a grid of env x dataset x backbone x regime x seed through train.py and evaluate.py.

    python sweep.py                                        # the default grid, as in the next line
    python sweep.py --envs hopper --datasets medium medium-replay --backbones mingru minlstm mamba attention \\
        --seeds 0 1 2 --regimes window --preset cpu
    python sweep.py --seeds 3 4                            # more seeds: finished cells are skipped
    python sweep.py --ray-address auto                     # one Ray task per cell on a running cluster
    python sweep.py --preset paper --datasets medium --backbones mingru attention   # on a GPU: its own table
    python sweep.py --backbones mingru -- --steps 2000     # flags after -- go to every train.py
    python sweep.py --final-episodes 50 --target-sweep 600 1200 1800 2400 3000 3600 4200 -- --steps 50000

A cell is (env, dataset, backbone, regime, seed, preset); its name leaves out the cpu preset
(hopper-medium-mingru-window-s0, hopper-medium-mingru-window-paper-s0). Each runs train.py, then evaluate.py (with
the run's num_envs), as subprocesses, in <out>/<cell name>, with their output
in <cell name>/sweep.log. It then writes <results>/<cell name>.json: status ("ok", or "failed"
with the tail of the failing output), the train config, the data (versioned id and content hash),
the wall times, evaluate.py's results (--final-episodes per target), the return-conditioning sweep's
(evaluate.py --target-returns with --target-sweep's targets, --sweep-episodes each), the learning curves from the tensorboard logs and the machine
it ran on; aggregate.py needs nothing else.

A cell whose JSON says ok is skipped; a failed one too, unless --retry-failed. A cell made by
another agent version (agents.decision.AGENT_VERSION) is run again and its JSON replaced. A cell made
on another data version (a suite dataset's policies exported again since) is refused, naming both:
its results stay what they were; run the new data into another --results folder. A cell with a
checkpoint but no JSON (an interrupted sweep) resumes with train.py --resume. A cell whose run
directory another process is training (another sweep on the same --out) is left to it: no JSON
from this sweep, which says so; two sweeps may share a grid.

Locally, cells run in a process pool of --workers, by default the cores divided by the threads
of one cell (train.py's --threads; the cpu preset uses 1). With --ray-address ("local" starts a
Ray instance here, "auto", "host:port" or "ray://host:port" joins a cluster) every cell is one Ray
task that declares its CPUs (the threads) and GPUs (one for the paper preset or a cuda device).
Nothing is shared but Ray itself: the checkout travels to every node as the job's working directory
(Ray's runtime_env), a relative --out lies in that directory on the cell's node, each node finds its
data as train.py does (a suite dataset generated there on first use, a D4RL file downloaded there),
and the cell's record, curves included, comes back to this process, which writes the cell JSONs. A
cell that trained on other data than this process loaded (a node whose CPU generated other
transitions, say) fails, with both hashes. A task whose node dies is rerun on another (Ray's
max_retries); an absolute --out on a filesystem every node shares lets a rerun cell resume. Ray runs
its workers at niceness 15: on a machine busy with other work, cells there wait for its idle time.

The exit status is 1 when any cell of the grid is failed (including skipped failed ones).
"""
import sys

from suite.runutils import expected_errors
from suite.sweep import run_sweep


def main(argv: list[str] | None = None) -> int:
    return run_sweep(sys.argv[1:] if argv is None else argv, __doc__)


if __name__ == "__main__":
    with expected_errors():
        sys.exit(main())
