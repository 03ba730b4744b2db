"""Train a decision agent on one env and dataset.

    python train.py                                   # hopper-medium, minGRU, cpu preset
    python train.py --env hopper --dataset medium --backbone mingru --regime window --seed 0
    python train.py --preset paper --backbone attention
    python train.py --out runs/x --resume             # go on from runs/x/checkpoint.pt

Every field of the config is a flag (python train.py --help). Precedence: flags, then
configs/<preset>/<env>-<dataset>.json where the reference recipe differs, then the preset.
The run directory gets config.json (once the run starts or goes on), checkpoint.pt (every
`checkpoint_every` steps and at the end; both written atomically), eval.jsonl and tensorboard logs (tb/).

Bad values stop the command before it writes anything, with one line `error: ...` and exit
status 1. One process at a time writes a run directory: a second train.py on it stops with one
line and exit status 75 (suite.runutils.RUN_IN_USE_STATUS), changing nothing. `--resume` goes on
only with the run's own values of the fields that shape it (suite.training.RUN_SHAPING); when the
run already holds `--steps` steps it says so and exits with status 0, writing nothing (fewer
`--steps` than the run holds is an error).
"""
from suite.runutils import expected_errors
from suite.training import load_config, train

if __name__ == "__main__":
    with expected_errors():
        print(f"run directory: {train(load_config(doc=__doc__))}")
