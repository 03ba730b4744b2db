import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import aggregate
import sweep
from agents.decision import AGENT_VERSION
from envs import env_spec, load_dataset
from suite.runutils import hold_run

REPO = Path(__file__).resolve().parent.parent
# train.py flags that make a cell take seconds
TINY = ["--d-model", "16", "--batch-size", "8", "--steps", "10", "--checkpoint-every", "5", "--eval-every", "1000",
        "--eval-episodes", "1", "--num-envs", "1"]


def synthetic_record(backbone: str, seed: int, normalized: float | None, error: str | None = None,
                     preset: str = "cpu", context: str = "window", env: str = "hopper", dataset: str = "medium") -> dict:
    """A cell JSON as sweep.py writes it; normalized None makes a failed cell."""
    cell = sweep.Cell(env, dataset, backbone, context, seed, preset)
    record = {**sweep.new_record(cell, f"runs/sweep/{cell.name}"), "sweep_command": "python sweep.py --seeds 0",
              "dataset_mean_normalized": 37.25, "code": {"commit": "0123456789abcdef", "python_files_modified": False},
              "machine": {"platform": "Linux", "cpu": "test cpu", "cpu_count": 2, "python": "3.11",
                          "torch": torch.__version__, "device": "cpu", "gpu": None}}
    if normalized is None:
        return {**record, "error": error}
    main, second = env_spec(env).target_returns
    return {**record, "status": "ok", "train_s": 10.0, "evaluate_s": 1.0,
            "evaluation": {"results": [{"target_return": main, "normalized_mean": normalized},
                                       {"target_return": second, "normalized_mean": normalized / 2}]},
            "curves": {f"eval/normalized_return_{main:.0f}": [[500, normalized / 2], [1000, normalized]],
                       "train/loss": [[50, 1.0], [100, 0.5]]}}


def test_each_preset_gets_its_own_cells_and_tables(tmp_path):
    cpu, paper = synthetic_record("mingru", 0, 30.0), synthetic_record("mingru", 0, 60.0, preset="paper")
    assert (cpu["cell"]["name"], paper["cell"]["name"]) == ("hopper-medium-mingru-window-s0",
                                                            "hopper-medium-mingru-window-paper-s0")
    del cpu["cell"]["preset"]  # a cell JSON written before presets were part of a cell: cpu
    summary = aggregate.summarize([cpu, paper], reps=100, seed=0)
    means = {table["title"]: table["rows"][0]["stats"]["3600"]["mean"] for table in summary["tables"]}
    assert means == {"hopper-medium, window regime, cpu preset": 30.0,
                     "hopper-medium, window regime, paper preset": 60.0}


def test_aggregate_statistics_failed_cells_and_readme(tmp_path):
    cells = tmp_path / "cells"
    cells.mkdir()
    mingru = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0]  # mean 15.125; IQM drops 2 from each end: 3.5
    records = [synthetic_record("mingru", seed, value) for seed, value in enumerate(mingru)]
    records += [synthetic_record("attention", seed, value) for seed, value in enumerate([10.0, 20.0, 30.0])]
    records.append(synthetic_record("mingru", 8, None, "step 7: ...\nloss is nan at step 8; stopping."))
    records.append(synthetic_record("mamba", 0, None, "RuntimeError: out of memory"))
    records[0]["code"] = {"commit": "0123456789abcdef", "python_files_modified": True}
    records[-1]["code"] = None  # a cell from before sweep.py recorded its commit
    for record in records:
        (cells / f"{record['cell']['name']}.json").write_text(json.dumps(record))
    readme, docs = tmp_path / "README.md", tmp_path / "docs" / "results.md"
    docs.parent.mkdir()
    for page in (readme, docs):
        page.write_text("# title\nbefore\n<!-- sweep-results:start -->\nold text\n<!-- sweep-results:end -->\nafter\n")

    cfg = aggregate.AggregateConfig(results=str(cells), out=str(tmp_path / "out"), readme=str(readme), docs=str(docs),
                                    reps=500)
    aggregate.main(cfg)

    (table,) = json.loads((tmp_path / "out" / "sweep.json").read_text())["tables"]
    rows = {row["backbone"]: row for row in table["rows"]}
    assert list(rows) == ["mingru", "mamba", "attention"]  # the backbones' own order
    stats = rows["mingru"]["stats"]["3600"]
    assert stats["n"] == 8 and rows["mingru"]["seeds"] == list(range(8))  # the failed seed 8 is not counted
    assert stats["mean"] == pytest.approx(15.125) and stats["iqm"] == pytest.approx(3.5)
    assert stats["std"] == pytest.approx(np.std(mingru, ddof=1))
    assert stats["mean_ci"][0] < 15.125 < stats["mean_ci"][1]
    assert rows["mingru"]["stats"]["1800"]["mean"] == pytest.approx(15.125 / 2)
    attention = rows["attention"]["stats"]["3600"]
    assert (attention["mean"], attention["iqm"], attention["std"]) == pytest.approx((20.0, 20.0, 10.0))
    assert rows["mamba"]["stats"]["3600"] == {"n": 0} and rows["mamba"]["failed"][0]["seed"] == 0
    assert rows["mingru"]["curve"] == {"steps": [500, 1000], "mean": pytest.approx([7.5625, 15.125])}
    assert table["published"] == [67.6, 65.1]

    markdown = (tmp_path / "out" / "sweep.md").read_text()
    assert "| mingru | 8 of 9 | 15.1 | " in markdown and "| mamba | 0 of 1 | – |" in markdown
    assert "`hopper-medium-mingru-window-s8`: loss is nan at step 8; stopping." in markdown
    assert "`hopper-medium-mamba-window-s0`: RuntimeError: out of memory" in markdown
    assert "published D4RL figures, not our runs" in markdown and "| 67.6 | 65.1 |" in markdown
    assert "not D4RL's file" in markdown and "test cpu, 2 cores" in markdown
    assert "its episodes' mean normalized return is 37.2" in markdown
    assert "- commit 0123456789ab (11 cells)" in markdown
    assert "- commit 0123456789ab with modified Python files (1 cells)" in markdown
    assert "- commit not recorded (1 cells)" in markdown
    for page in (readme, docs):
        text = page.read_text()
        assert text.startswith("# title\nbefore\n") and text.endswith("<!-- sweep-results:end -->\nafter\n")
        assert "old text" not in text
    full = docs.read_text()  # the docs get the full tables, the README the headline: IQM [interval] (seeds)
    assert "python sweep.py --seeds 0" in full and "15.1" in full
    assert "](../out/plots/hopper-medium-window-cpu-return.png)" in full
    headline = readme.read_text()
    iqm = f"{stats['iqm_ci'][0]:.1f}, {stats['iqm_ci'][1]:.1f}"
    assert f"| mingru | 3.5 [{iqm}] (8) |" in headline and "| mamba | – |" in headline
    assert "| the data's mean episode | 37.2 |" in headline and "[docs/results.md](docs/results.md)" in headline
    for png in ("hopper-medium-window-cpu-return.png", "hopper-medium-window-cpu-curves.png", "speed-cpu.png"):
        assert (tmp_path / "out" / "plots" / png).read_bytes()[:4] == b"\x89PNG"


def test_copies_of_one_data_version_generated_on_two_cpu_models_are_named_and_their_means_averaged():
    records = [synthetic_record("mingru", seed, 30.0 + seed) for seed in range(3)]
    for record, (cpu, sha256, data_mean) in zip(records, [("AMD EPYC", "aa" * 32, 47.0), ("AMD EPYC", "aa" * 32, 47.0),
                                                          ("Intel Xeon", "bb" * 32, 46.0)]):
        record["machine"]["cpu"], record["data"], record["dataset_mean_normalized"] = (
            cpu, {"id": "minrnn/hopper/medium-v1", "sha256": sha256}, data_mean)
    (table,) = aggregate.summarize(records, reps=100, seed=0)["tables"]
    assert table["data_mean"] == pytest.approx(46.5) and table["rows"][0]["stats"]["3600"]["n"] == 3
    text = "\n".join(aggregate.render_table(table, table["main_target"]))
    assert "2 copies of this data version" in text
    assert "sha256 aaaaaaaaaaaa on AMD EPYC, data mean 47.0: mingru s0, mingru s1" in text
    assert "sha256 bbbbbbbbbbbb on Intel Xeon, data mean 46.0: mingru s2" in text
    records[2]["machine"]["cpu"], records[2]["data"]["sha256"], records[2]["dataset_mean_normalized"] = (
        "AMD EPYC", "aa" * 32, 47.0)  # one copy: no such line
    (table,) = aggregate.summarize(records, reps=100, seed=0)["tables"]
    assert "copies" not in "\n".join(aggregate.render_table(table, table["main_target"]))


def test_reproduce_commands_leave_out_the_run_paths_of_the_machine_that_made_the_cells():
    recorded = ("python sweep.py --datasets medium medium-expert --workers 1 --results /work/x/results/cells "
                "--out=/work/runs/v1 --ray-address auto -- --steps 210")
    assert aggregate.portable_command(recorded, "results/cells") == (
        "python sweep.py --datasets medium medium-expert -- --steps 210")
    assert aggregate.portable_command("python sweep.py --seeds 0", "results/cells-data-v0") == (
        "python sweep.py --seeds 0 --results results/cells-data-v0")


def test_regimes_compared_per_backbone_over_the_datasets_it_ran_in_both():
    # mingru: stream 10 above window on both datasets; minlstm: level; mamba: window only; attention: one seed
    noise = [-2.0, 0.0, 2.0]
    records = [synthetic_record(backbone, seed, level + gain * (context == "stream") + noise[seed], context=context,
                                dataset=dataset)
               for dataset, level in (("medium", 40.0), ("medium-replay", 20.0))
               for backbone, gain in (("mingru", 10.0), ("minlstm", 0.0)) for context in ("window", "stream")
               for seed in range(3)]
    records += [synthetic_record("mamba", seed, 30.0, dataset="medium") for seed in range(3)]
    records += [synthetic_record("attention", 0, 30.0 + 5.0 * (context == "stream"), context=context)
                for context in ("window", "stream")]
    summary = aggregate.summarize(records, reps=500, seed=0)
    found = {d["backbone"]: d for d in summary["regime_differences"]}  # each backbone's last row: the pooled one
    assert set(found) == {"mingru", "minlstm", "attention"}  # mamba ran in one regime
    per_dataset = [d for d in summary["regime_differences"] if d["backbone"] == "mingru"][:-1]
    assert [d["tasks"] for d in per_dataset] == [["hopper-medium"], ["hopper-medium-replay"]]
    assert all(d["iqm_difference"] == pytest.approx(10.0) and d["supported"] for d in per_dataset)
    mingru, minlstm, attention = found["mingru"], found["minlstm"], found["attention"]
    assert (mingru["a"], mingru["b"], mingru["tasks"]) == ("stream", "window", ["hopper-medium", "hopper-medium-replay"])
    assert mingru["iqm_difference"] == pytest.approx(10.0) and mingru["supported"]
    assert minlstm["iqm_difference"] == pytest.approx(0.0) and not minlstm["supported"]
    assert attention["tasks"] == ["hopper-medium"] and not attention["supported"]  # a difference, but one seed
    assert aggregate.difference_cells(attention) == "5.0 | – | no interval: one seed"
    medium = [t for t in summary["tables"] if t["task"] == "hopper-medium"]
    rows = aggregate.backbone_rows(medium)  # one seed: the score and its count, no interval
    assert "| attention | 35.0 (1) | 30.0 (1) |" in rows and rows[0].startswith("| mingru | 50.0 [48.0, 52.0] (3) |")


def test_datasets_pooled_per_dataset_like_the_paper_and_which_differences_the_intervals_support(tmp_path):
    # attention beats mingru by 30 everywhere; mamba and mingru differ by noise
    offsets = {"mingru": 0.0, "mamba": 0.5, "attention": 30.0}
    tasks = [("hopper", "medium", 40.0), ("hopper", "medium-replay", 20.0), ("walker2d", "medium", 60.0)]
    cells = tmp_path / "cells"
    cells.mkdir()
    for env, dataset, level in tasks:
        for backbone, offset in offsets.items():
            for seed, noise in enumerate([-2.0, 0.0, 2.0, -1.0, 1.0]):
                record = synthetic_record(backbone, seed, level + offset + noise * (1 + seed % 2), env=env, dataset=dataset)
                (cells / f"{record['cell']['name']}.json").write_text(json.dumps(record))
    for seed in range(3):  # a dataset the grid has reached with one backbone so far: left out of the pooled table
        record = synthetic_record("mingru", seed, 90.0, dataset="medium-expert")
        (cells / f"{record['cell']['name']}.json").write_text(json.dumps(record))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- sweep-results:start -->\n<!-- sweep-results:end -->\n")
    aggregate.main(aggregate.AggregateConfig(results=str(cells), out=str(tmp_path / "out"), readme=str(readme), docs="",
                                             reps=500))

    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [t["task"] for t in summary["tables"]] == [  # D4RL's order, not the alphabet's
        "hopper-medium", "hopper-medium-replay", "hopper-medium-expert", "walker2d-medium"]
    (group,) = summary["all_datasets"]
    assert group["tasks"] == ["hopper-medium", "hopper-medium-replay", "walker2d-medium"]
    assert [row["backbone"] for row in group["rows"]] == ["mingru", "mamba", "attention"]
    verdict = {(d["a"], d["b"]): d["supported"] for d in group["differences"]}
    assert verdict == {("mingru", "mamba"): False, ("mingru", "attention"): True, ("mamba", "attention"): True}
    markdown = (tmp_path / "out" / "sweep.md").read_text()
    hopper_medium = np.mean([40.0 + 30.0 + noise * (1 + seed % 2) for seed, noise in enumerate([-2.0, 0.0, 2.0, -1.0, 1.0])])
    assert f"| hopper-medium | 39.8 | 40.3 | {hopper_medium:.1f} | 37.2 | 67.6 | 65.1 |" in markdown
    assert "| average | 39.8 | 40.3 | 69.8 | 37.2 | 74.8 | 71.5 |" in markdown  # published: over the same three datasets
    assert "both sides): mingru - attention, mamba - attention." in markdown and "minGRU 78.2" in markdown
    assert (tmp_path / "out" / "plots" / "all-datasets-window-cpu.png").read_bytes()[:4] == b"\x89PNG"
    headline = readme.read_text()  # the README's table ends with the pooled datasets: 3 datasets x 5 seeds
    assert "| walker2d-medium | pooled: the 3 datasets every backbone has |" in headline
    for row in group["rows"]:
        line = next(line for line in headline.splitlines() if line.startswith(f"| {row['backbone']} |"))
        iqm, (low, high) = row["stats"]["iqm"], row["stats"]["iqm_ci"]
        assert line.endswith(f" | {iqm:.1f} [{low:.1f}, {high:.1f}] (15) |")
    assert "| the data's mean episode | 37.2 | 37.2 | 37.2 | 37.2 | 37.2 |" in headline


def test_stratified_bootstrap_interval_covers_the_true_mean_at_its_rate():
    """Two tasks with means 0 and 10: the pooled mean's 95% interval holds 5 about 95% of the time.

    An interval that resampled across tasks would be far too wide (coverage near 1); a wrong
    percentile would be far too narrow.
    """
    rng = np.random.default_rng(0)
    repeats, covered = 400, 0
    for _ in range(repeats):
        tasks = [rng.normal(0.0, 1.0, 20), rng.normal(10.0, 1.0, 20)]
        low, high = aggregate.stratified_bootstrap_ci(tasks, aggregate.mean, 1000, rng)
        covered += low <= 5.0 <= high
    assert 0.88 <= covered / repeats <= 0.99


def test_sweep_resumes_a_checkpoint_then_skips_finished_cells(d4rl_file, tmp_path, capsys):
    out, results = tmp_path / "runs", tmp_path / "cells"
    grid = ["--datasets", str(d4rl_file), "--backbones", "mingru", "--seeds", "0", "1", "--out", str(out),
            "--results", str(results), "--workers", "2", "--", *TINY]
    # an interrupted sweep: seed 1 stopped at its step-5 checkpoint, before its cell JSON
    interrupted = sweep.Cell("hopper", str(d4rl_file), "mingru", "window", 1)
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


def test_aggregate_refuses_to_pool_agent_versions(tmp_path):
    new, old = synthetic_record("mingru", 0, 30.0), synthetic_record("mingru", 1, 20.0)
    new["agent_version"] = AGENT_VERSION
    with pytest.raises(ValueError, match=rf"different agent versions.*version 1: 1 cells, e\.g\. "
                                         rf"hopper-medium-mingru-window-s1.*version {AGENT_VERSION}: 1 cells"):
        aggregate.summarize([new, old], reps=10, seed=0)
    # a folder holding both: the newest version is tabled, the other named as left out, unless asked for
    cells = tmp_path / "cells"
    cells.mkdir()
    for record in (new, old):
        (cells / f"{record['cell']['name']}.json").write_text(json.dumps(record))

    def tabled(version):
        return aggregate.main(aggregate.AggregateConfig(results=str(cells), out=str(tmp_path / "out"), readme="",
                                                        docs="", reps=10, agent_version=version))

    newest = tabled(0)
    assert (newest["agent_version"], newest["cells"], newest["left_out"]) == (AGENT_VERSION, 1, {1: 1})
    assert tabled(1)["tables"][0]["rows"][0]["stats"]["3600"]["mean"] == 20.0
    assert f"Left out, since versions are never pooled (`--agent-version N` tables them): 1 cells of version " \
           f"{AGENT_VERSION}." in (tmp_path / "out" / "sweep.md").read_text()


def test_a_cell_made_on_other_data_is_refused_by_the_sweep_and_never_pooled(d4rl_file, tmp_path):
    cells = tmp_path / "cells"
    cells.mkdir()
    cell = sweep.Cell("hopper", str(d4rl_file), "mingru", "window", 0)
    made = cells / f"{cell.name}.json"
    made.write_text(json.dumps({**synthetic_record("mingru", 0, 30.0), "data": {"id": "older-v1", "sha256": "0" * 64}}))
    kept = made.read_text()
    with pytest.raises(ValueError, match=rf"{made} was made on older-v1, but --datasets {d4rl_file} is now "
                                         rf"{d4rl_file}; allowed: cells of the same data"):
        sweep.main(["--datasets", str(d4rl_file), "--backbones", "mingru", "--seeds", "0", "--results", str(cells),
                    "--out", str(tmp_path / "runs")])
    assert made.read_text() == kept and not (tmp_path / "runs").exists()
    # cells recorded before data versions trained on version 0 of the suite's data
    old, new = synthetic_record("mingru", 0, 30.0), synthetic_record("mingru", 1, 20.0)
    new["data"] = {"id": "minrnn/hopper/medium-v1", "sha256": "1" * 64}
    with pytest.raises(ValueError, match=r"hopper-medium trained on different data versions.*"
                                         r"minrnn/hopper/medium-v0: 1 cells, e\.g\. hopper-medium-mingru-window-s0; "
                                         r"minrnn/hopper/medium-v1: 1 cells"):
        aggregate.summarize([old, new], reps=10, seed=0)
    old["data"] = {"id": "minrnn/hopper/medium-v1", "sha256": "1" * 64}
    assert aggregate.summarize([old, new], reps=10, seed=0)["tables"][0]["data_id"] == "minrnn/hopper/medium-v1"


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
    name = sweep.Cell("hopper", str(d4rl_file), "minlstm", "window", 0).name
    held = hold_run(tmp_path / "runs" / name)  # as a train.py of another sweep holds it
    assert sweep.main(grid) == 0
    assert not (tmp_path / "cells").exists()  # no record: the holder's own sweep writes it
    assert "left to the process training it (error: " in capsys.readouterr().out
    held.close()
    assert sweep.main(grid) == 0 and json.loads((tmp_path / "cells" / f"{name}.json").read_text())["status"] == "ok"


def test_bad_grid_values_name_the_valid_ones():
    with pytest.raises(ValueError, match="'transformer' in --backbones; valid: mingru, minlstm"):
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
