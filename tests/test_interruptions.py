"""Faults during a run: SIGTERM and SIGINT stop it at a checkpoint of the step in hand, a resumed run
records each evaluation once, a full disk ends in one line, and a sweep stopped by SIGTERM resumes."""
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

import sweep
from suite.rundir import read_curves

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def train_args(d4rl_file, out, *extra):
    return [sys.executable, "train.py", "--dataset", str(d4rl_file), "--d-model", "16", "--batch-size", "8",
            "--eval-episodes", "2", "--num-envs", "2", "--out", str(out), *extra]


def wait_for(condition, process, timeout=300):
    start = time.monotonic()
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - start < timeout
        time.sleep(0.05)


def checkpoint(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=False)


def test_sigterm_checkpoints_the_step_in_hand_and_the_resumed_run_equals_an_uninterrupted_one(d4rl_file, tmp_path):
    steps = ["--steps", "3000", "--checkpoint-every", "1000", "--eval-every", "100000"]
    whole = tmp_path / "whole"
    subprocess.run(train_args(d4rl_file, whole, *steps), cwd=REPO, env=ENV, check=True, capture_output=True)

    out = tmp_path / "stopped"
    process = subprocess.Popen(train_args(d4rl_file, out, *steps), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (out / "checkpoint.pt").exists(), process)  # step 1000 saved: training goes on
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    step = checkpoint(out)["step"]
    assert 1000 < step < 3000 and step % 1000  # the step in hand, not the last periodic checkpoint
    assert stderr.strip().splitlines()[-1] == (f"stopped: SIGTERM received at step {step}; {out / 'checkpoint.pt'} "
                                               f"holds it. Go on with --resume")

    subprocess.run(train_args(d4rl_file, out, *steps, "--resume"), cwd=REPO, env=ENV, check=True, capture_output=True)
    resumed, uninterrupted = checkpoint(out)["agent"], checkpoint(whole)["agent"]
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in uninterrupted)


def test_sigint_in_an_evaluation_saves_it_as_pending_and_the_resumed_run_makes_it_once(d4rl_file, tmp_path):
    out = tmp_path / "run"
    args = train_args(d4rl_file, out, "--steps", "40", "--checkpoint-every", "20", "--eval-every", "20",
                      "--eval-episodes", "100", "--num-envs", "1")
    process = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (out / "checkpoint.pt").exists(), process)  # step 20 saved; its evaluation (seconds) begins
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert "SIGINT received at step 20" in stderr and "its evaluation is made on resuming" in stderr
    saved = checkpoint(out)
    assert saved["step"] == 20 and saved["evaluation_pending"]
    assert not (out / "eval.jsonl").exists()

    subprocess.run(args + ["--resume"], cwd=REPO, env=ENV, check=True, capture_output=True)
    evaluations = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [(e["step"], e["target_return"]) for e in evaluations] == [(20, 3600.0), (20, 1800.0), (40, 3600.0),
                                                                       (40, 1800.0)]
    assert [step for step, _ in read_curves(out / "tb")["eval/normalized_return_3600"]] == [20, 40]


def test_evaluations_logged_after_the_checkpoint_a_run_resumes_from_are_recorded_once(d4rl_file, tmp_path):
    """A run killed after evaluations and before its next checkpoint: its eval.jsonl and tensorboard logs
    held the evaluations after the checkpoint, which the resumed run makes again."""
    out, common = tmp_path / "run", ["--checkpoint-every", "10", "--eval-every", "5"]
    subprocess.run(train_args(d4rl_file, out, "--steps", "10", *common), cwd=REPO, env=ENV, check=True,
                   capture_output=True)
    at_step_10 = (out / "checkpoint.pt").read_bytes()
    subprocess.run(train_args(d4rl_file, out, "--steps", "20", "--resume", *common), cwd=REPO, env=ENV, check=True,
                   capture_output=True)
    before = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    (out / "checkpoint.pt").write_bytes(at_step_10)  # as if killed after step 20's evaluation, before its checkpoint
    subprocess.run(train_args(d4rl_file, out, "--steps", "20", "--resume", *common), cwd=REPO, env=ENV, check=True,
                   capture_output=True)
    after = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [(e["step"], e["target_return"]) for e in after] == [(step, target) for step in (5, 10, 15, 20)
                                                                 for target in (3600.0, 1800.0)]
    assert [e["returns"] for e in after] == [e["returns"] for e in before]  # made again, the same
    assert [step for step, _ in read_curves(out / "tb")["eval/normalized_return_1800"]] == [5, 10, 15, 20]


def limit_file_size():
    """In the child: files may not grow past 200 kB, and going past is an error (EFBIG), not a kill."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_full_disk_ends_in_one_line_naming_the_file_and_leaves_no_partial_file(d4rl_file, tmp_path):
    out = tmp_path / "run"
    # d_model 64: a checkpoint of about 1 MB, past the limit
    result = subprocess.run(train_args(d4rl_file, out, "--d-model", "64", "--steps", "5", "--checkpoint-every", "5",
                                       "--eval-every", "1000"),
                            cwd=REPO, env=ENV, capture_output=True, text=True, preexec_fn=limit_file_size)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[-1].startswith(f"error: cannot write {out / 'checkpoint.pt'}: no space for it")
    assert "Free some space, or pass --out on another disk" in lines[-1]
    assert not (out / "checkpoint.pt").exists()
    assert not [path for path in out.iterdir() if ".tmp" in path.name]  # no partial file


def test_a_sweep_stopped_by_sigterm_writes_no_cell_and_the_next_run_resumes_it(d4rl_file, tmp_path):
    results, out = tmp_path / "cells", tmp_path / "runs"
    grid = ["--datasets", str(d4rl_file), "--backbones", "mingru", "--seeds", "0", "--out", str(out),
            "--results", str(results), "--workers", "1", "--", "--d-model", "16", "--batch-size", "8",
            "--checkpoint-every", "500", "--eval-every", "100000", "--eval-episodes", "1", "--num-envs", "1"]
    process = subprocess.Popen([sys.executable, "sweep.py", *grid, "--steps", "100000"], cwd=REPO, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cell = out / "hopper-hopper_random-v2-mingru-window-s0"
    wait_for(lambda: (cell / "checkpoint.pt").exists(), process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted, its checkpoint kept" in stdout
    assert stderr.strip().splitlines()[-1].startswith("stopped: SIGTERM received: 1 running cell(s) stopped at their "
                                                      "checkpoints")
    assert not results.exists() or not list(results.iterdir())
    stopped_at = checkpoint(cell)["step"]
    assert stopped_at > 500 and stopped_at % 500
    assert sweep.main([*grid, "--steps", str(stopped_at + 10)]) == 0
    record = json.loads((results / f"{cell.name}.json").read_text())
    assert record["status"] == "ok" and record["resumed"] and checkpoint(cell)["step"] == stopped_at + 10
