"""aggregate.py and the summaries behind it (suite.cells, suite.long_cells, suite.report), on cell records
made here as sweep.py writes them."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.decision import AGENT_VERSION
from envs import env_spec, normalized_score
from suite.aggregating import AggregateConfig, aggregate
from suite.cells import load_cells, summarize
from suite.long_cells import steady_score, summarize_long
from suite.report import (backbone_rows, difference_cells, portable_command, render_budget, render_headline,
                          render_table)
from suite.sweep import Cell, new_record

REPO = Path(__file__).resolve().parent.parent
PAGE = "# title\nbefore\n<!-- sweep-results:start -->\nold text\n<!-- sweep-results:end -->\nafter\n"
LONG_TARGETS = (600.0, 1200.0, 1800.0, 2400.0, 3000.0, 3600.0, 4200.0)  # issue 35's return-conditioning sweep


def synthetic_record(backbone: str, seed: int, normalized: float | None, error: str | None = None,
                     preset: str = "cpu", regime: str = "window", env: str = "hopper", dataset: str = "medium") -> dict:
    """A cell JSON as sweep.py writes it; normalized None makes a failed cell."""
    cell = Cell(env, dataset, backbone, regime, seed, preset)
    record = {**new_record(cell, f"runs/sweep/{cell.name}"), "sweep_command": "python sweep.py --seeds 0",
              "dataset_mean_normalized": 37.25, "code": {"commit": "0123456789abcdef", "python_files_modified": False},
              "machine": {"platform": "Linux", "cpu": "test cpu", "cpu_count": 2, "python": "3.11",
                          "torch": torch.__version__, "device": "cpu", "gpu": None}}
    if normalized is None:
        return {**record, "error": error}
    main, second = env_spec(env).target_returns
    return {**record, "status": "ok", "train_s": 10.0, "evaluate_s": 1.0, "train_config": {"steps": 10_000},
            "evaluation": {"results": [{"target_return": main, "normalized_mean": normalized},
                                       {"target_return": second, "normalized_mean": normalized / 2}]},
            "curves": {f"eval/normalized_return_{main:.0f}": [[500, normalized / 2], [1000, normalized]],
                       "train/loss": [[50, 1.0], [100, 0.5]]}}


def long_record(backbone: str, seed: int, level: float, final: float, best_target: float,
                dataset: str = "medium") -> dict:
    """A long cell on hopper: 50,000 steps evaluated every 2,500 at `level` + step / 1000 (+ the seed's
    noise, -1, 0 or 1), `final` in its 50-episode evaluation after the last step, and a target sweep whose
    achieved return peaks at 40 (+ noise) at `best_target`, one point lower per 100 of target away from it."""
    noise = seed - 1.0
    record = synthetic_record(backbone, seed, final, dataset=dataset)
    for result in record["evaluation"]["results"]:
        result["episodes"] = 50
    steps = range(2500, 50001, 2500)
    return {**record, "train_config": {"regime": "window", "steps": 50000, "eval_episodes": 10},
            "curves": {f"eval/normalized_return_{target}": [[step, level + step / 1000 + noise] for step in steps]
                       for target in (3600, 1800)},
            "target_sweep": {"results": [{"target_return": target, "episodes": 20,
                                          "normalized_mean": 40.0 - abs(target - best_target) / 100 + noise}
                                         for target in LONG_TARGETS]}}


def write_cells(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        (folder / f"{record['cell']['name']}.json").write_text(json.dumps(record))
    return folder


def aggregate_into(tmp_path: Path, cells: Path, **flags) -> dict:
    """aggregate() on `cells` into tmp_path/out; long cells from tmp_path/long-cells, if any."""
    return aggregate(AggregateConfig(**{
        "results": str(cells), "out": str(tmp_path / "out"), "long_results": str(tmp_path / "long-cells"),
        "readme": "", "docs": "", "reps": 500, **flags}))


def test_each_preset_gets_its_own_cells_and_tables(tmp_path):
    cpu, paper = synthetic_record("mingru", 0, 30.0), synthetic_record("mingru", 0, 60.0, preset="paper")
    assert (cpu["cell"]["name"], paper["cell"]["name"]) == ("hopper-medium-mingru-window-s0",
                                                            "hopper-medium-mingru-window-paper-s0")
    del cpu["cell"]["preset"]  # a cell JSON written before presets were part of a cell: cpu
    summary = summarize([cpu, paper], reps=100, seed=0)
    means = {table["title"]: table["rows"][0]["stats"]["3600"]["mean"] for table in summary["tables"]}
    assert means == {"hopper-medium, window regime, cpu preset": 30.0,
                     "hopper-medium, window regime, paper preset": 60.0}


def test_cells_that_call_the_regime_context_load_as_regime(tmp_path):
    old, new = synthetic_record("mingru", 0, 30.0), synthetic_record("mingru", 1, 20.0)
    old["cell"]["context"] = old["cell"].pop("regime")
    old["train_config"], new["train_config"] = {"context": "window", "steps": 10}, {"regime": "window", "steps": 10}
    loaded = load_cells(str(write_cells(tmp_path / "cells", [old, new])))
    for record in loaded:
        assert record["cell"]["regime"] == record["train_config"]["regime"] == "window"
        assert "context" not in record["cell"] and "context" not in record["train_config"]
    (table,) = summarize(loaded, reps=100, seed=0)["tables"]  # one regime: both seeds in one table
    assert table["regime"] == "window" and table["rows"][0]["seeds"] == [0, 1]


def test_aggregate_statistics_failed_cells_and_readme(tmp_path):
    mingru = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0]  # mean 15.125; IQM drops 2 from each end: 3.5
    records = [synthetic_record("mingru", seed, value) for seed, value in enumerate(mingru)]
    records += [synthetic_record("attention", seed, value) for seed, value in enumerate([10.0, 20.0, 30.0])]
    records.append(synthetic_record("mingru", 8, None, "step 7: ...\nloss is nan at step 8; stopping."))
    records.append(synthetic_record("mamba", 0, None, "RuntimeError: out of memory"))
    records[0]["code"] = {"commit": "0123456789abcdef", "python_files_modified": True}
    records[-1]["code"] = None  # a cell from before sweep.py recorded its commit
    cells = write_cells(tmp_path / "cells", records)
    readme, docs = tmp_path / "README.md", tmp_path / "docs" / "results.md"
    docs.parent.mkdir()
    for page in (readme, docs):
        page.write_text(PAGE)

    aggregate_into(tmp_path, cells, readme=str(readme), docs=str(docs))

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
    assert "**window regime, cpu preset, 10,000 training steps**" in headline  # the budget of every figure below
    assert "Budget: 10,000 training steps." in markdown
    for png in ("hopper-medium-window-cpu-return.png", "hopper-medium-window-cpu-curves.png", "speed-cpu.png"):
        assert (tmp_path / "out" / "plots" / png).read_bytes()[:4] == b"\x89PNG"


def test_copies_of_one_data_version_generated_on_two_cpu_models_are_named_and_their_means_averaged():
    records = [synthetic_record("mingru", seed, 30.0 + seed) for seed in range(3)]
    for record, (cpu, sha256, data_mean) in zip(records, [("AMD EPYC", "aa" * 32, 47.0), ("AMD EPYC", "aa" * 32, 47.0),
                                                          ("Intel Xeon", "bb" * 32, 46.0)]):
        record["machine"]["cpu"], record["data"], record["dataset_mean_normalized"] = (
            cpu, {"id": "minrnn/hopper/medium-v1", "sha256": sha256}, data_mean)
    (table,) = summarize(records, reps=100, seed=0)["tables"]
    assert table["data_mean"] == pytest.approx(46.5) and table["rows"][0]["stats"]["3600"]["n"] == 3
    text = "\n".join(render_table(table, table["main_target"]))
    assert "2 copies of this data version" in text
    assert "sha256 aaaaaaaaaaaa on AMD EPYC, data mean 47.0: mingru s0, mingru s1" in text
    assert "sha256 bbbbbbbbbbbb on Intel Xeon, data mean 46.0: mingru s2" in text
    records[2]["machine"]["cpu"], records[2]["data"]["sha256"], records[2]["dataset_mean_normalized"] = (
        "AMD EPYC", "aa" * 32, 47.0)  # one copy: no such line
    (table,) = summarize(records, reps=100, seed=0)["tables"]
    assert "copies" not in "\n".join(render_table(table, table["main_target"]))


def test_reproduce_commands_leave_out_the_run_paths_of_the_machine_that_made_the_cells():
    recorded = ("python sweep.py --datasets medium medium-expert --workers 1 --results /work/x/results/cells "
                "--out=/work/runs/v1 --ray-address auto -- --steps 210")
    assert portable_command(recorded, "results/cells") == (
        "python sweep.py --datasets medium medium-expert -- --steps 210")
    assert portable_command("python sweep.py --seeds 0", "results/cells-data-v0") == (
        "python sweep.py --seeds 0 --results results/cells-data-v0")
    # cells made before the regime flags were renamed show today's names, which sweep.py takes
    assert portable_command("python sweep.py --contexts window stream -- --context=stream", "results/cells") == (
        "python sweep.py --regimes window stream -- --regime=stream")


def test_regimes_compared_per_backbone_over_the_datasets_it_ran_in_both():
    # mingru: stream 10 above window on both datasets; minlstm: level; mamba: window only; attention: one seed
    noise = [-2.0, 0.0, 2.0]
    records = [synthetic_record(backbone, seed, level + gain * (regime == "stream") + noise[seed], regime=regime,
                                dataset=dataset)
               for dataset, level in (("medium", 40.0), ("medium-replay", 20.0))
               for backbone, gain in (("mingru", 10.0), ("minlstm", 0.0)) for regime in ("window", "stream")
               for seed in range(3)]
    records += [synthetic_record("mamba", seed, 30.0, dataset="medium") for seed in range(3)]
    records += [synthetic_record("attention", 0, 30.0 + 5.0 * (regime == "stream"), regime=regime)
                for regime in ("window", "stream")]
    summary = summarize(records, reps=500, seed=0)
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
    assert difference_cells(attention) == "5.0 | – | no interval: one seed"
    medium = [t for t in summary["tables"] if t["task"] == "hopper-medium"]
    rows = backbone_rows(medium)  # one seed: the score and its count, no interval
    assert "| attention | 35.0 (1) | 30.0 (1) |" in rows and rows[0].startswith("| mingru | 50.0 [48.0, 52.0] (3) |")


def test_datasets_pooled_per_dataset_like_the_paper_and_which_differences_the_intervals_support(tmp_path):
    # attention beats mingru by 30 everywhere; mamba and mingru differ by noise
    offsets = {"mingru": 0.0, "mamba": 0.5, "attention": 30.0}
    tasks = [("hopper", "medium", 40.0), ("hopper", "medium-replay", 20.0), ("walker2d", "medium", 60.0)]
    records = [synthetic_record(backbone, seed, level + offset + noise * (1 + seed % 2), env=env, dataset=dataset)
               for env, dataset, level in tasks for backbone, offset in offsets.items()
               for seed, noise in enumerate([-2.0, 0.0, 2.0, -1.0, 1.0])]
    # a dataset the grid has reached with one backbone so far: left out of the pooled table
    records += [synthetic_record("mingru", seed, 90.0, dataset="medium-expert") for seed in range(3)]
    readme = tmp_path / "README.md"
    readme.write_text("<!-- sweep-results:start -->\n<!-- sweep-results:end -->\n")
    aggregate_into(tmp_path, write_cells(tmp_path / "cells", records), readme=str(readme))

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


def test_aggregate_refuses_to_pool_agent_versions(tmp_path):
    new, old = synthetic_record("mingru", 0, 30.0), synthetic_record("mingru", 1, 20.0)
    new["agent_version"] = AGENT_VERSION
    with pytest.raises(ValueError, match=rf"different agent versions.*version 1: 1 cells, e\.g\. "
                                         rf"hopper-medium-mingru-window-s1.*version {AGENT_VERSION}: 1 cells"):
        summarize([new, old], reps=10, seed=0)
    # a folder holding both: the newest version is tabled, the other named as left out, unless asked for
    cells = write_cells(tmp_path / "cells", [new, old])
    newest = aggregate_into(tmp_path, cells, reps=10)
    assert (newest["agent_version"], newest["cells"], newest["left_out"]) == (AGENT_VERSION, 1, {1: 1})
    (table,) = aggregate_into(tmp_path, cells, reps=10, agent_version=1)["tables"]
    assert table["rows"][0]["stats"]["3600"]["mean"] == 20.0
    assert f"Left out, since versions are never pooled (`--agent-version N` tables them): 1 cells of version " \
           f"{AGENT_VERSION}." in (tmp_path / "out" / "sweep.md").read_text()


def test_cells_of_one_task_on_different_data_versions_are_never_pooled():
    # cells recorded before data versions trained on version 0 of the suite's data
    old, new = synthetic_record("mingru", 0, 30.0), synthetic_record("mingru", 1, 20.0)
    new["data"] = {"id": "minrnn/hopper/medium-v1", "sha256": "1" * 64}
    with pytest.raises(ValueError, match=r"hopper-medium trained on different data versions.*"
                                         r"minrnn/hopper/medium-v0: 1 cells, e\.g\. hopper-medium-mingru-window-s0; "
                                         r"minrnn/hopper/medium-v1: 1 cells"):
        summarize([old, new], reps=10, seed=0)
    old["data"] = {"id": "minrnn/hopper/medium-v1", "sha256": "1" * 64}
    assert summarize([old, new], reps=10, seed=0)["tables"][0]["data_id"] == "minrnn/hopper/medium-v1"


def test_seeds_of_one_budget_pool_and_each_table_names_the_budget_its_figures_come_from():
    short, long = synthetic_record("mingru", 0, 30.0), synthetic_record("mingru", 1, 20.0)
    long["train_config"] = {"steps": 20_000}
    with pytest.raises(ValueError, match=r"cells of mingru on hopper-medium, window regime, cpu preset, trained for "
                                         r"different numbers of steps cannot be pooled: 10000 steps: 1 cells, e\.g\. "
                                         r"hopper-medium-mingru-window-s0; 20000 steps: 1 cells, e\.g\. "
                                         r"hopper-medium-mingru-window-s1; put each budget's cells in its own"):
        summarize([short, long], reps=10, seed=0)
    # backbones of one table at different budgets (as the episode regime's): each row names its own
    attention = synthetic_record("attention", 0, 40.0)
    attention["train_config"] = {"steps": 20_000}
    summary = summarize([short, attention], reps=10, seed=0)
    headline = render_headline({**summary, "left_out": {}}, "results/cells", "docs/results.md")
    assert "**window regime, cpu preset, training steps per backbone**" in headline
    assert "| mingru (10,000 training steps) | 30.0 (1) |" in headline
    assert "| attention (20,000 training steps) | 40.0 (1) |" in headline
    (table,) = summary["tables"]
    assert ("Budget: mingru 10,000 training steps; attention 20,000 training steps."
            in render_table(table, table["main_target"]))


@pytest.mark.parametrize("folder", ["cells", "long-cells"])
def test_a_corrupt_cell_file_is_named_in_one_line_and_nothing_is_written(tmp_path, folder):
    cells = write_cells(tmp_path / "cells", [synthetic_record("mingru", seed, 30.0) for seed in range(2)])
    write_cells(tmp_path / "long-cells", [long_record("mingru", 0, 20.0, 50.0, 1800.0)])
    broken = tmp_path / folder / "hopper-medium-mingru-window-s0.json"
    broken.write_text(broken.read_text()[:185])  # cut short, as by a full disk or a copy stopped halfway
    docs = tmp_path / "results.md"
    docs.write_text(PAGE + "<!-- long-results:start -->\n<!-- long-results:end -->\n")
    result = subprocess.run([sys.executable, "aggregate.py", "--results", str(cells), "--out", str(tmp_path / "out"),
                             "--long-results", str(tmp_path / "long-cells"), "--docs", str(docs), "--readme", ""],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {broken}: not valid JSON (") and "restore it" in line
    assert not (tmp_path / "out").exists() and docs.read_text() == PAGE + (
        "<!-- long-results:start -->\n<!-- long-results:end -->\n")


def long_cells() -> list[dict]:
    """Three seeds of three backbones on hopper-medium: minlstm 1 above mingru along training and in the final
    evaluation, attention 10 above both and best at a higher target; and a failed mamba cell."""
    shapes = {"mingru": (20.0, [50.0, 51.0, 52.0], 1800.0), "minlstm": (21.0, [51.0, 52.0, 53.0], 1800.0),
              "attention": (30.0, [60.0, 61.0, 62.0], 3000.0)}
    records = [long_record(backbone, seed, level, finals[seed], best)
               for backbone, (level, finals, best) in shapes.items() for seed in range(3)]
    return records + [synthetic_record("mamba", 0, None, "RuntimeError: out of memory")]


def test_long_cells_along_training_the_steadier_score_and_the_probability_of_improvement():
    (dataset,) = summarize_long(long_cells(), {"minrnn/hopper/medium-v0": (30.0, 60.0)}, reps=500, seed=0)["datasets"]
    assert (dataset["task"], dataset["last_step"], dataset["data_range"]) == ("hopper-medium", 50000, (30.0, 60.0))
    rows = {row["backbone"]: row for row in dataset["rows"]}
    assert list(rows) == ["mingru", "minlstm", "mamba", "attention"] and rows["mamba"]["failed"][0]["seed"] == 0
    mingru = rows["mingru"]
    assert mingru["curve"]["steps"] == list(range(2500, 50001, 2500))
    assert mingru["curve"]["iqm"] == pytest.approx([20.0 + step / 1000 for step in range(2500, 50001, 2500)])
    low, high = mingru["curve"]["iqm_ci"][0]
    assert low < 22.5 < high  # seeds at 21.5, 22.5 and 23.5
    assert mingru["at_steps"]["10000"]["iqm"] == pytest.approx(30.0)  # 20 + 10, the seeds' noise cancelling
    assert mingru["at_steps"]["25000"]["iqm"] == pytest.approx(45.0)
    assert mingru["final"]["iqm"] == pytest.approx(51.0)  # the final evaluation, not the curve's last point (70)
    assert mingru["steady"]["iqm"] == pytest.approx(20.0 + 45.0)  # steps 40,000 to 50,000: mean 45,000
    # a budget's score: each run's mean of its evaluations at 5,000, 7,500 and 10,000 (fewer at the start)
    assert mingru["budget"]["10000"]["iqm"] == pytest.approx(20.0 + 7.5)
    assert mingru["budget"]["5000"]["iqm"] == pytest.approx(20.0 + 3.75)  # 2,500 and 5,000 only
    assert mingru["budget"]["50000"]["iqm"] == pytest.approx(20.0 + 47.5)
    assert (mingru["eval_episodes"], mingru["final_episodes"]) == ([10], [50])
    improvement = {(d["a"], d["b"]): d for d in dataset["improvement"]}
    assert list(improvement) == [("mingru", "minlstm"), ("mingru", "attention"), ("minlstm", "attention")]
    # minlstm's 51, 52, 53 against mingru's 50, 51, 52: mingru wins 50 > -, 51 > -, 52 > 51 and ties 51 = 51,
    # 52 = 52: (1 + 2 * 0.5) / 9
    assert improvement["mingru", "minlstm"]["probability"] == pytest.approx(2 / 9)
    assert improvement["mingru", "attention"] == {"a": "mingru", "b": "attention", "probability": 0.0,
                                                  "ci": (0.0, 0.0)}


def test_a_steadier_score_up_to_a_step_the_run_never_evaluated_at_is_none():
    run_curve = {2500: 10.0, 5000: 20.0, 7500: 60.0}
    assert steady_score(run_curve, 2, up_to=5000) == pytest.approx(15.0)
    assert steady_score(run_curve) == pytest.approx(30.0) and steady_score(run_curve, 3, up_to=10000) is None


def test_the_budget_table_says_from_which_step_every_backbone_reaches_the_data_mean():
    finished = [r for r in long_cells() if r["status"] == "ok"]
    (dataset,) = summarize_long(finished, {}, reps=200, seed=0)["datasets"]
    lines = render_budget(dataset, "(regenerate: `python aggregate.py`)")
    assert lines[2] == "| backbone | 5,000 | 10,000 | 15,000 | 20,000 | 25,000 | 30,000 | 40,000 | 50,000 |"
    assert lines[4].startswith("| mingru | 23.8 [") and "| 27.5 [" in lines[4]
    # the data's mean is 37.25: mingru reaches it at 20,000 (17.5 + 20 = 37.5), at 15,000 it is 32.5
    assert lines[7] == ("| every backbone at or above the data's mean (37.2) | no | no | no | yes | yes | yes | yes "
                        "| yes |")
    # at 20,000 mingru's seeds score 36.5, 37.5 and 38.5: one of the nine runs stays below the data's mean
    assert lines[8] == ("| runs of any backbone at or above it | 0 of 9 | 2 of 9 | 3 of 9 | 8 of 9 | 9 of 9 | 9 of 9 "
                        "| 9 of 9 | 9 of 9 |")
    (with_failed,) = summarize_long(long_cells(), {}, reps=200, seed=0)["datasets"]
    assert render_budget(with_failed, "")[-3].endswith("| – | – | – | – | – | – | – | – |")  # mamba: no run


def test_long_cells_return_conditioning_and_the_target_each_backbone_scores_highest_at():
    (dataset,) = summarize_long(long_cells(), {}, reps=500, seed=0)["datasets"]
    rows = {row["backbone"]: row for row in dataset["rows"]}
    assert dataset["data_range"] is None and dataset["data_mean"] == pytest.approx(37.25)
    targets = rows["mingru"]["conditioning"]
    assert [t["target"] for t in targets] == list(LONG_TARGETS)
    normalized = normalized_score("hopper", np.array(LONG_TARGETS))
    assert [t["normalized_target"] for t in targets] == pytest.approx(normalized)
    assert [t["stats"]["iqm"] for t in targets] == pytest.approx([28.0, 34.0, 40.0, 34.0, 28.0, 22.0, 16.0])
    assert (rows["mingru"]["best_target"]["target"], rows["attention"]["best_target"]["target"]) == (1800.0, 3000.0)
    assert rows["attention"]["best_target"]["stats"]["iqm"] == pytest.approx(40.0)
    assert rows["mamba"]["conditioning"] == [] and rows["mamba"]["best_target"] is None


def test_aggregate_writes_the_long_cells_section_of_the_docs(tmp_path):
    cells = write_cells(tmp_path / "cells", [synthetic_record("mingru", seed, 30.0) for seed in range(2)])
    unfinished = synthetic_record("mingru", 0, None, "Killed", dataset="medium-replay")  # its dataset's only cell
    write_cells(tmp_path / "long-cells", long_cells() + [unfinished])
    docs = tmp_path / "docs" / "results.md"
    docs.parent.mkdir()
    docs.write_text(PAGE + "<!-- long-results:start -->\nold long text\n<!-- long-results:end -->\nthe end\n")
    readme = tmp_path / "README.md"
    readme.write_text(PAGE + "<!-- long-results:start -->\n<!-- long-results:end -->\n")
    aggregate_into(tmp_path, cells, docs=str(docs), readme=str(readme))

    headline = readme.read_text()  # per dataset the table along training, linking to the docs' section for the rest
    assert "**hopper-medium, window regime, cpu preset, 50,000 training steps**" in headline
    assert "](docs/results.md#long-cells-50000-steps-learning-curves-and-return-conditioning)" in headline
    assert "| the data's mean episode | | 37.2 | 37.2 | 37.2 | 37.2 |" in headline
    assert next(line for line in headline.splitlines() if line.startswith("| mingru | 3 of 3 | 30.0 ["))
    assert "**hopper-medium-replay, window regime, cpu preset**" in headline  # no cell finished: no budget

    text = docs.read_text()
    assert "old long text" not in text and text.endswith("<!-- long-results:end -->\nthe end\n")
    long = text[text.index("<!-- long-results:start -->"):]
    assert "from 11 long cell files" in long and "python sweep.py --seeds 0 --results " in long
    assert "#### hopper-medium, window regime, cpu preset: 50,000 steps, normalized return at target 3600" in long
    assert ("| backbone | seeds ok | 10,000 steps | 25,000 steps | 50,000 steps (final evaluation) | "
            "mean of the last five evaluations |") in long
    assert "10 episodes per seed in each evaluation during training, 50 in the final one" in long
    assert "the last five evaluations are steps 40,000 to 50,000" in long and "never the best seen" in long
    row = next(line for line in long.splitlines() if line.startswith("| mingru | 3 of 3 | "))
    assert row.startswith("| mingru | 3 of 3 | 30.0 [") and " | 51.0 [" in row and row.endswith(" (3) |")
    assert "| mamba | 0 of 1 | – | – | – | – |" in long
    assert "`hopper-medium-mamba-window-s0`: RuntimeError: out of memory" in long
    assert "| mingru > attention | 0.00 | [0.00, 0.00] |" in long and "| mingru > minlstm | 0.22 | [" in long
    assert f"| attention | 3000 | {normalized_score('hopper', 3000.0):.1f} | 40.0 [" in long
    assert "| mamba | – | – | – |" in long
    assert "#### hopper-medium-replay, window regime, cpu preset: – steps" in long and "| mingru | 0 of 1 | " in long
    for kind in ("curves", "conditioning"):
        assert f"](../out/plots/long-hopper-medium-window-cpu-{kind}.png)" in long
        assert (tmp_path / "out" / "plots" / f"long-hopper-medium-window-cpu-{kind}.png").read_bytes()[:4] == b"\x89PNG"
    assert "Score by training budget (regenerate: `python aggregate.py`): each run's mean of its 3 evaluations" in long
    assert long.count("(regenerate: `python aggregate.py`)") == 6 + 4  # beside each table and figure
    assert json.loads((tmp_path / "out" / "long-cells.json").read_text())["datasets"][0]["task"] == "hopper-medium"
    assert (tmp_path / "out" / "long-cells.md").read_text().startswith("Generated by `python aggregate.py` from 11")
