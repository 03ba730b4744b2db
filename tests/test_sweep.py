import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sweep
from agents.decision import AGENT_VERSION
from envs import load_dataset
from suite.runutils import hold_run
from suite.sweep import Cell
from test_aggregate import synthetic_record

REPO = Path(__file__).resolve().parent.parent
# train.py flags that make a cell take seconds
TINY = ["--d-model", "16", "--batch-size", "8", "--steps", "10", "--checkpoint-every", "5", "--eval-every", "1000",
        "--eval-episodes", "1", "--num-envs", "1"]


def test_sweep_resumes_a_checkpoint_then_skips_finished_cells(d4rl_file, tmp_path, capsys):
    out, results = tmp_path / "runs", tmp_path / "cells"
    grid = ["--datasets", str(d4rl_file), "--backbones", "mingru", "--seeds", "0", "1", "--out", str(out),
            "--results", str(results), "--workers", "2", "--", *TINY]
    # an interrupted sweep: seed 1 stopped at its step-5 checkpoint, before its cell JSON
    interrupted = Cell("hopper", str(d4rl_file), "mingru", "window", 1)
    subprocess.run([sys.executable, "train.py", "--dataset", str(d4rl_file), "--seed", "1", *TINY, "--steps", "5",
                    "--out", str(out / interrupted.name)], cwd=REPO, check=True, capture_output=True)

    assert sweep.main(grid) == 0
    fresh = json.loads((results / "hopper-hopper_random-v2-mingru-window-s0.json").read_text())
    resumed = json.loads((results / f"{interrupted.name}.json").read_text())
    assert fresh["status"] == resumed["status"] == "ok"
    assert not fresh["resumed"] and resumed["resumed"] and resumed["train_config"]["resume"]
    assert torch.load(out / interrupted.name / "checkpoint.pt", weights_only=False)["step"] == 10
    # the curve spans both runs' tensorboard files: step 5 before the interruption, 10 after
    assert [step for step, _ in resumed["curves"]["eval/normalized_return_3600"]] == [5, 10]
    assert [r["target_return"] for r in resumed["evaluation"]["results"]] == [3600.0, 1800.0]
    assert resumed["machine"]["cpu_count"] > 0 and resumed["sweep_command"].startswith("python sweep.py")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert resumed["code"]["commit"] == head
    data_mean = load_dataset(str(d4rl_file), env="hopper").normalized_returns().mean()
    assert resumed["dataset_mean_normalized"] == pytest.approx(data_mean)
    assert resumed["data"] == load_dataset(str(d4rl_file), env="hopper").identity()
    assert resumed["data"]["id"] == str(d4rl_file) and len(resumed["data"]["sha256"]) == 64

    assert fresh["agent_version"] == resumed["agent_version"] == AGENT_VERSION

    before = {path.name: path.read_text() for path in results.iterdir()}
    capsys.readouterr()
    assert sweep.main(grid) == 0
    assert "0 to run, 2 skipped" in capsys.readouterr().out
    assert {path.name: path.read_text() for path in results.iterdir()} == before

    # a cell of an older agent version is made again with the current one; the other is left alone
    old = results / f"{interrupted.name}.json"
    old.write_text(json.dumps({k: v for k, v in resumed.items() if k != "agent_version"}))
    assert sweep.main(grid) == 0
    assert "1 to run, 1 skipped" in capsys.readouterr().out
    assert json.loads(old.read_text())["agent_version"] == AGENT_VERSION
    assert (results / "hopper-hopper_random-v2-mingru-window-s0.json").read_text() == before[
        "hopper-hopper_random-v2-mingru-window-s0.json"]


def test_a_cell_records_its_final_evaluation_and_its_return_conditioning_sweep(d4rl_file, tmp_path):
    results = tmp_path / "cells"
    assert sweep.main(["--datasets", str(d4rl_file), "--backbones", "minlstm", "--seeds", "0", "--out",
                       str(tmp_path / "runs"), "--results", str(results), "--final-episodes", "3",
                       "--target-sweep", "300", "900", "--sweep-episodes", "2", "--", *TINY]) == 0
    record = json.loads((results / "hopper-hopper_random-v2-minlstm-window-s0.json").read_text())
    assert [(r["target_return"], r["episodes"]) for r in record["evaluation"]["results"]] == [(3600.0, 3), (1800.0, 3)]
    assert [(r["target_return"], r["episodes"]) for r in record["target_sweep"]["results"]] == [(300.0, 2), (900.0, 2)]
    assert record["target_sweep_s"] > 0


def test_a_cell_made_on_other_data_is_refused_by_the_sweep(d4rl_file, tmp_path):
    cells = tmp_path / "cells"
    cells.mkdir()
    cell = Cell("hopper", str(d4rl_file), "mingru", "window", 0)
    made = cells / f"{cell.name}.json"
    made.write_text(json.dumps({**synthetic_record("mingru", 0, 30.0), "data": {"id": "older-v1", "sha256": "0" * 64}}))
    kept = made.read_text()
    with pytest.raises(ValueError, match=rf"{made} was made on older-v1, but --datasets {d4rl_file} is now "
                                         rf"{d4rl_file}; allowed: cells of the same data"):
        sweep.main(["--datasets", str(d4rl_file), "--backbones", "mingru", "--seeds", "0", "--results", str(cells),
                    "--out", str(tmp_path / "runs")])
    assert made.read_text() == kept and not (tmp_path / "runs").exists()


def test_failed_cell_is_recorded_with_its_error_and_not_rerun(d4rl_file, tmp_path, capsys):
    grid = ["--datasets", str(d4rl_file), "--backbones", "minlstm", "--seeds", "0", "--out", str(tmp_path / "runs"),
            "--results", str(tmp_path / "cells"), "--", *TINY, "--return-scale", "1e-40"]  # returns overflow: nan loss
    assert sweep.main(grid) == 1
    (path,) = (tmp_path / "cells").iterdir()
    record = json.loads(path.read_text())
    assert record["status"] == "failed" and "nan" in record["error"] and record["cell"]["backbone"] == "minlstm"
    capsys.readouterr()
    assert sweep.main(grid) == 1  # still failed: skipped, not silently dropped
    output = capsys.readouterr().out
    assert "0 to run, 1 skipped (1 failed before" in output and f"failed: {record['cell']['name']}" in output


def test_a_cell_another_process_is_training_is_left_to_it(d4rl_file, tmp_path, capsys):
    grid = ["--datasets", str(d4rl_file), "--backbones", "minlstm", "--seeds", "0", "--out", str(tmp_path / "runs"),
            "--results", str(tmp_path / "cells"), "--", *TINY]
    name = Cell("hopper", str(d4rl_file), "minlstm", "window", 0).name
    held = hold_run(tmp_path / "runs" / name)  # as a train.py of another sweep holds it
    assert sweep.main(grid) == 0
    assert not (tmp_path / "cells").exists()  # no record: the holder's own sweep writes it
    assert "left to the process training it (error: " in capsys.readouterr().out
    held.close()
    assert sweep.main(grid) == 0 and json.loads((tmp_path / "cells" / f"{name}.json").read_text())["status"] == "ok"


def test_bad_grid_values_name_the_valid_ones():
    with pytest.raises(SystemExit, match="--backbones: value 'transformer' is invalid; allowed: mingru, minlstm"):
        sweep.main(["--backbones", "transformer"])
    with pytest.raises(ValueError, match="'mediocre' in --datasets; valid: random, medium"):
        sweep.main(["--datasets", "mediocre"])
    with pytest.raises(ValueError, match="--seed after -- is set per cell"):
        sweep.main(["--", "--seed", "3"])


def test_two_cell_sweep_on_a_local_ray_instance(d4rl_file, tmp_path):
    results = tmp_path / "cells"
    finished = subprocess.run(
        [sys.executable, "sweep.py", "--ray-address", "local", "--datasets", str(d4rl_file), "--backbones",
         "mingru", "attention", "--seeds", "0", "--out", str(tmp_path / "runs"), "--results", str(results),
         "--", *TINY], cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "RAY_worker_niceness": "0"})  # Ray's default 15 starves the cells on a busy machine
    assert finished.returncode == 0, finished.stdout + finished.stderr
    records = [json.loads(path.read_text()) for path in sorted(results.iterdir())]
    assert [(r["cell"]["backbone"], r["status"]) for r in records] == [("attention", "ok"), ("mingru", "ok")]
    # each ran in the job's copy of the checkout on its node and trained on the data the sweep loaded
    assert all(r["ray_node"] and r["data"]["id"] == str(d4rl_file) and r["curves"] for r in records)
