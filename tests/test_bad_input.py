"""Bad input to the command-line tools: one line `error: ...` that names it, a non-zero exit, no
traceback, and nothing written (an existing run's files byte-for-byte as they were)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from envs import load_dataset
from suite import training
from suite.runutils import RUN_IN_USE_STATUS, hold_run
from suite.training import load_config

REPO = Path(__file__).resolve().parent.parent
TINY = ("--d-model", "16", "--batch-size", "8", "--checkpoint-every", "5", "--eval-every", "1000",
        "--eval-episodes", "1", "--num-envs", "1")


def run(*args):
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


def error_line(result, *named) -> str:
    """The one `error:` line the command failed with; it must contain each of `named`."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in named:
        assert text in lines[0]
    return lines[0]


def hashes(directory: Path) -> dict:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(d4rl_file, tmp_path_factory):
    """A 10-step run, its train.py arguments, and the hashes of its files."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    args = ("train.py", "--dataset", str(d4rl_file), *TINY, "--out", str(out))
    result = run(*args, "--steps", "10")
    assert result.returncode == 0, result.stderr
    return out, args, hashes(out)


@pytest.mark.parametrize("flag, value, allowed", [
    *[(flag, "0", "> 0") for flag in ("--steps", "--batch-size", "--context-len", "--d-model", "--n-layers",
                                      "--n-heads", "--eval-every", "--eval-episodes", "--checkpoint-every",
                                      "--num-envs", "--warmup-steps", "--max-timestep", "--max-episode-len",
                                      "--lr", "--grad-clip", "--return-scale")],
    ("--batch-size", "-1", "> 0"), ("--lr", "nan", "> 0"), ("--dropout", "1.0", "[0, 1)"),
    ("--dropout", "-0.1", "[0, 1)"), ("--weight-decay", "-1", ">= 0"), ("--threads", "-1", ">= 0"),
    ("--seed", "-1", "[0, 2**32)"), ("--device", "gpu", "cpu"),
])
def test_every_value_out_of_range_names_flag_value_and_range(flag, value, allowed):
    with pytest.raises(SystemExit) as stop:
        load_config([flag, value])
    message = str(stop.value)
    assert message.startswith(f"error: {flag}: value ") and value in message and "allowed: " in message
    assert allowed in message.partition("allowed: ")[2]


def test_out_of_range_stops_the_command_before_it_writes(d4rl_file, finished_run, tmp_path):
    error_line(run("train.py", "--dataset", str(d4rl_file), *TINY, "--steps", "0", "--out", str(tmp_path / "new")),
               "--steps", "value 0", "allowed: > 0")
    assert not (tmp_path / "new").exists()
    out, _, before = finished_run
    error_line(run("evaluate.py", str(out), "--episodes", "0"), "--episodes", "value 0")
    assert hashes(out) == before


def test_type_errors_name_flag_value_and_type(finished_run):
    out, _, before = finished_run
    error_line(run("evaluate.py", str(out), "--target-returns", "abc"), "--target-returns", "'abc'", "float")
    error_line(run("evaluate.py", str(out), "--target-returns", "3600", "nan"), "--target-returns", "nan", "finite")
    assert hashes(out) == before
    with pytest.raises(SystemExit, match=r"^error: --steps: invalid int value: 'abc'"):
        load_config(["--steps", "abc"])


def test_a_broken_per_dataset_config_file_is_named_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "CONFIG_DIR", tmp_path)
    (tmp_path / "cpu").mkdir()
    broken = tmp_path / "cpu" / "hopper-medium.json"
    for text, named in [("{\"lr\": ", "not valid JSON"), ('{"learning_rate": 0.1}', "unknown field(s) ['learning_rate']"),
                        ("[1, 2]", "unknown field(s) [[1, 2]]"),
                        ('{"steps": "abc", "dropout": 0}', "wrong type for steps='abc' (wants int)"),
                        ('{"d_model": 64.0}', "wrong type for d_model=64.0 (wants int)"),
                        ('{"steps": true}', "wrong type for steps=True (wants int)")]:
        broken.write_text(text)
        with pytest.raises(SystemExit) as stop:
            load_config(["--preset", "cpu", "--env", "hopper", "--dataset", "medium"])
        assert str(stop.value).startswith(f"error: {broken}: {named}") and "allowed: an object of TrainConfig" in str(stop.value)
    broken.write_text('{"dropout": 0, "steps": 7}')  # a whole number stands for a float
    assert load_config(["--preset", "cpu", "--env", "hopper", "--dataset", "medium"]).steps == 7


def test_heads_that_do_not_divide_the_width_stop_before_any_data_is_loaded(tmp_path):
    error_line(run("train.py", "--backbone", "attention", "--d-model", "64", "--n-heads", "3", "--out", str(tmp_path / "new")),
               "--n-heads: value 3 does not divide --d-model 64", "allowed: a divisor of 64")
    assert not (tmp_path / "new").exists()


def test_a_non_finite_loss_stops_with_one_error_line_after_the_progress_bar(d4rl_file, tmp_path):
    result = run("train.py", "--dataset", str(d4rl_file), *TINY, "--steps", "5", "--return-scale", "1e-40",
                 "--out", str(tmp_path / "new"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: loss is nan at step 1") and "No checkpoint was written yet" in last


def test_misspelt_dataset_is_named_with_the_valid_ones(tmp_path):
    error_line(run("train.py", "--dataset", "medium-replayy", "--out", str(tmp_path / "new")),
               "--dataset", "'medium-replayy'", "medium-replay,", "d4rl:")
    assert not (tmp_path / "new").exists()
    with pytest.raises(ValueError, match="'medium-replayy'.*medium-replay"):
        load_dataset("medium-replayy")


def test_missing_hdf5_is_named_and_nothing_is_written(tmp_path):
    missing = tmp_path / "missing.hdf5"
    error_line(run("train.py", "--dataset", str(missing), *TINY, "--steps", "5", "--out", str(tmp_path / "new")),
               str(missing))
    assert not (tmp_path / "new").exists()


def test_resume_of_another_run_names_the_fields_and_changes_nothing(finished_run):
    out, args, before = finished_run
    line = error_line(run(*args, "--steps", "20", "--resume", "--backbone", "minlstm", "--seed", "3"),
                      "--backbone is 'mingru' there, 'minlstm' here", "--seed is 0 there, 3 here")
    assert "load_state_dict" not in line
    assert hashes(out) == before


def test_resume_on_changed_data_names_both_and_changes_nothing(d4rl_file, tmp_path):
    data = tmp_path / "hopper_random-v2.hdf5"
    shutil.copyfile(d4rl_file, data)
    args = ("train.py", "--dataset", str(data), *TINY, "--out", str(tmp_path / "run"))
    assert run(*args, "--steps", "5").returncode == 0
    before = hashes(tmp_path / "run")
    with h5py.File(data, "r+") as f:  # the same name, other transitions
        f["rewards"][0] += 1.0
    error_line(run(*args, "--steps", "10", "--resume"), "--resume", f"trained on {data} (sha256 ",
               f"--dataset {data} is now {data} (sha256 ", "allowed: the run's own data")
    assert hashes(tmp_path / "run") == before


def test_a_run_another_process_is_writing_is_refused_and_left_alone(finished_run):
    out, args, before = finished_run
    held = hold_run(out)  # as a train.py still running on it holds it
    result = run(*args, "--steps", "20", "--resume")
    held.close()
    assert result.returncode == RUN_IN_USE_STATUS and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: {out} is being written by another process; allowed: one process per "
                                     f"run directory: wait for it to end, or pass another --out")
    assert hashes(out) == before


def test_sac_commands_name_a_missing_run_in_one_line(tmp_path):
    error_line(run("-m", "envs.policies.export", str(tmp_path / "no-run")), str(tmp_path / "no-run" / "config.json"))
    error_line(run("-m", "envs.policies.export", str(tmp_path), "--expert-run", str(tmp_path / "no-run")),
               str(tmp_path / "config.json"))
    error_line(run("-m", "envs.train_sac", "--env", "ant"), "'ant'", "hopper")
    assert not (REPO / "runs" / "sac" / "ant-s0").exists()


def test_aggregate_of_a_folder_without_cells_says_so_and_writes_nothing(tmp_path):
    error_line(run("aggregate.py", "--results", str(tmp_path / "cells"), "--out", str(tmp_path / "out"), "--readme", "",
                   "--docs", ""), f"no cell files (*.json) in --results {tmp_path / 'cells'}")
    assert not (tmp_path / "out").exists()


def test_resume_of_a_finished_run_writes_nothing(finished_run):
    out, args, before = finished_run
    error_line(run(*args, "--steps", "5", "--resume"), "--steps", "value 5", "10 or more")
    assert hashes(out) == before
    same = run(*args, "--steps", "10", "--resume")  # the step count reached: nothing to do, not an error
    assert same.returncode == 0 and "nothing to do" in same.stdout, same.stderr
    assert hashes(out) == before


def test_truncated_or_foreign_checkpoints_are_named(finished_run, tmp_path):
    out, args, before = finished_run
    data = (out / "checkpoint.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[:len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint" * 100)
    for name in ("truncated.pt", "garbage.pt"):
        error_line(run("evaluate.py", str(tmp_path / name), "--episodes", "1"),
                   str(tmp_path / name), "expected a torch checkpoint written by train.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.pt", "truncated.pt"]  # no tb/ either
    resumed = tmp_path / "run"
    resumed.mkdir()
    (resumed / "checkpoint.pt").write_bytes(data[:len(data) // 2])
    kept = hashes(resumed)
    error_line(run(*args[:-1], str(resumed), "--steps", "20", "--resume"), str(resumed / "checkpoint.pt"))
    assert hashes(resumed) == kept
    assert hashes(out) == before


def test_evaluate_takes_a_checkpoint_file(finished_run, tmp_path):
    out, _, _ = finished_run
    shutil.copy(out / "checkpoint.pt", tmp_path / "model.pt")  # a copy: evaluate.py logs beside it (tb/)
    result = run("evaluate.py", str(tmp_path / "model.pt"), "--episodes", "1", "--num-envs", "1",
                 "--target-returns", "3600", "--json", str(tmp_path / "eval.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["backbone"] == "mingru"


@pytest.mark.parametrize("args, named", [
    (("benchmarks/backbones.py", "--backbones", "mingru,foo"), ("'foo'", "--backbones", "minlstm")),
    (("benchmarks/acting.py", "--backbones", "foo"), ("'foo'", "--backbones", "mamba")),
    (("benchmarks/training.py", "--regimes", "window,bar"), ("'bar'", "--regimes", "stream")),
    (("benchmarks/training.py", "--compare", "no-such-commit"), ("'no-such-commit'", "--compare", "a commit")),
])
def test_a_benchmark_given_a_bad_value_names_it_in_one_line(args, named):
    error_line(run(*args), *named)


@pytest.mark.parametrize("args, named", [
    (("-m", "envs.policies.export", "no-run", "--medium-tolerance", "0"), ("--medium-tolerance: value 0.0", "> 0")),
    (("-m", "envs.policies.export", "no-run", "--data-version", "-2"), ("--data-version: value -2", ">= 0, or -1")),
    (("benchmarks/acting.py", "--rounds", "0"), ("--rounds: value 0", "> 0")),
    (("benchmarks/backbones.py", "--lengths", "64,0"), ("--lengths: value '64,0'", "comma-separated integers, each > 0")),
    (("-m", "benchmarks.datasets", "--env", "ant"), ("--env: value 'ant'", "hopper, halfcheetah, walker2d")),
    (("benchmarks/stale_state.py", "--every", "0"), ("--every: value 0", "> 0")),
    (("benchmarks/stale_state.py", "--backbones", "mingru,foo"), ("'foo'", "--backbones", "minlstm")),
    (("benchmarks/training.py", "--threads", "0"), ("--threads: value 0", "> 0")),
    (("benchmarks/ray_cluster.py", "--seeds", "0,-1"), ("--seeds: value '0,-1'", "each an integer in [0, 2**32)")),
    (("benchmarks/ray_cluster.py", "--backbones", "foo"), ("'foo'", "--backbones", "mingru")),
])
def test_the_sac_export_and_the_benchmarks_check_their_flags_before_they_write(args, named, tmp_path):
    error_line(run(*args, "--out", str(tmp_path / "out" / "result")), *named)  # a folder or a file, by command
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["train.py", "evaluate.py", "sweep.py", "aggregate.py"])
def test_every_flag_says_what_it_is_for_and_which_values_it_takes(command):
    from suite.aggregating import AggregateConfig
    from suite.evaluating import EvalConfig
    from suite.runutils import field_descriptions
    from suite.sweep import SweepConfig

    config = {"train.py": training.TrainConfig, "evaluate.py": EvalConfig, "sweep.py": SweepConfig,
              "aggregate.py": AggregateConfig}[command]
    described = field_descriptions(config)
    assert sorted(described) == sorted(config.__dataclass_fields__)  # every field has its one-line description
    shown = " ".join(run(command, "--help").stdout.split())  # argparse wraps the lines
    assert all(" ".join(description.split()) in shown for description in described.values())
    if command == "train.py":
        assert "allowed: mingru, minlstm, mamba, attention, gru, lstm (default: mingru)" in shown
