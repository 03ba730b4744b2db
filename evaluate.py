"""Evaluate a trained agent in the simulator, step by step with its recurrent state.

    python evaluate.py RUN_DIR --episodes 10                         # or RUN_DIR/checkpoint.pt, any checkpoint
    python evaluate.py RUN_DIR --json results.json --video videos/   # mp4 of a rollout, headless
    python evaluate.py RUN_DIR --watch                               # MuJoCo's viewer (needs a display)
    python evaluate.py RUN_DIR --compare-with RUN2 RUN3 --side-by-side videos/side_by_side.mp4  # one mp4, tiled

Rolls out `episodes` episodes per target return (the env's Decision Transformer targets unless
--target-returns is given) in gymnasium vector envs, prints raw and D4RL-normalized returns,
and logs them, with frames of the video, to RUN_DIR/tb (the checkpoint's directory). For headless
video set MUJOCO_GL=egl (or osmesa). A bad value or file: one line `error: ...`, exit status 1.
"""
from suite.evaluating import CHECKS, EvalConfig, evaluate
from suite.runutils import expected_errors, parse_config

if __name__ == "__main__":
    with expected_errors():
        evaluate(parse_config(EvalConfig, __doc__, positional=("run_dir",), checks=CHECKS))
