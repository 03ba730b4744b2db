"""envs/: every dataset source, the generator end to end, and the errors for bad input."""
import concurrent.futures
import dataclasses
import functools
import http.server
import json
import re
import shutil
import socket
import threading
from pathlib import Path

import h5py
import minari
import numpy as np
import pytest
import torch
from minari.data_collector import EpisodeBuffer
from stable_baselines3 import SAC

from envs import DATASETS, ENVS, load_dataset, make_env, normalized_score
from envs import stats
from envs.generate import GenerateConfig, generate, write_suite_dataset
from envs.load import data_id
from envs.policies import Checkpoint, NoExpertPolicy, load_manifest, policies_used, read_evaluations, run_actor
from envs.policies.export import ExportConfig, export, pick_checkpoints
from envs.collect import SACActorPolicy, collect
from envs.stats import StatsConfig
from envs.train_sac import SACConfig, reenact_replay_buffer, train

OBS_DIM, ACT_DIM = 11, 3  # hopper
EPISODE_LENGTHS = (5, 7, 3)  # ends by terminal, by timeout, and a cut-off tail with neither


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def write_d4rl_layout(path, obs_dim=OBS_DIM, act_dim=ACT_DIM, bad=None):
    """A file in D4RL's exact layout with EPISODE_LENGTHS; `bad` = (key, row, value) plants a bad value."""
    n = sum(EPISODE_LENGTHS)
    rng = np.random.default_rng(0)
    columns = {
        "observations": rng.standard_normal((n, obs_dim)).astype(np.float32),
        "next_observations": rng.standard_normal((n, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
        "rewards": np.arange(n, dtype=np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": np.zeros(n, bool),
    }
    columns["terminals"][4] = True
    columns["timeouts"][11] = True
    if bad:
        key, row, value = bad
        columns[key][row] = value
    with h5py.File(path, "w") as f:
        for key, values in columns.items():
            f.create_dataset(key, data=values)
        f.create_dataset("infos/qpos", data=np.zeros((n, 6), np.float32))
        f.create_dataset("metadata/algorithm", data="SAC")
    return columns


def test_d4rl_layout_splits_at_terminals_and_timeouts_and_keeps_the_tail(tmp_path):
    columns = write_d4rl_layout(tmp_path / "tiny.hdf5")
    dataset = load_dataset(str(tmp_path / "tiny.hdf5"), env="hopper")
    assert [len(ep.rewards) for ep in dataset.episodes] == list(EPISODE_LENGTHS)
    bounds = np.cumsum((0,) + EPISODE_LENGTHS)
    expected_returns = [columns["rewards"][a:b].sum() for a, b in zip(bounds, bounds[1:])]
    np.testing.assert_allclose(dataset.episode_returns(), expected_returns)
    assert [ep.terminals.tolist() for ep in dataset.episodes] == [
        [False] * 4 + [True], [False] * 7, [False] * 3]
    np.testing.assert_array_equal(dataset.episodes[1].observations, columns["observations"][5:12])
    assert dataset.episodes[0].observations.dtype == np.float32 and dataset.num_transitions == 15
    mean, std = dataset.obs_mean_std()
    np.testing.assert_allclose(mean, columns["observations"].mean(0), rtol=1e-5)
    np.testing.assert_allclose(dataset.normalized_returns(), normalized_score("hopper", expected_returns))


def minari_buffers(num_episodes, obs_dim=OBS_DIM):
    rng = np.random.default_rng(1)
    buffers = []
    for length in range(3, 3 + num_episodes):
        terminations = np.arange(length) == length - 1
        buffers.append(EpisodeBuffer(
            observations=rng.standard_normal((length + 1, obs_dim)).astype(np.float32),
            actions=rng.uniform(-1, 1, (length, ACT_DIM)).astype(np.float32),
            rewards=rng.standard_normal(length).astype(np.float32),
            terminations=terminations, truncations=np.zeros(length, bool)))
    return buffers


def test_minari_dataset_loads_through_load_dataset(minari_root):
    buffers = minari_buffers(4)
    minari.create_dataset_from_buffers("test/hopper/tiny-v0", buffers, env="Hopper-v5")
    dataset = load_dataset("minari:test/hopper/tiny-v0")
    assert dataset.env == "hopper" and dataset.name == "minari:test/hopper/tiny-v0"
    assert [len(ep.rewards) for ep in dataset.episodes] == [3, 4, 5, 6]
    for episode, buffer in zip(dataset.episodes, buffers):
        np.testing.assert_array_equal(episode.observations, buffer.observations[:-1])
        np.testing.assert_array_equal(episode.rewards, buffer.rewards)
        assert episode.terminals[-1] and not episode.terminals[:-1].any()


def test_missing_minari_dataset_says_how_to_download(minari_root):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("minari:mujoco/hopper/medium-v0")


@pytest.mark.parametrize("env", sorted(ENVS))
def test_normalized_score_is_0_at_reference_min_and_100_at_max(env):
    spec = ENVS[env]
    np.testing.assert_allclose(normalized_score(env, [spec.ref_min_score, spec.ref_max_score]), [0.0, 100.0])


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    """A tiny real SAC run exported as behaviour policies: medium = its worst checkpoint, expert = its best
    (by data level)."""
    run_dir = tmp_path_factory.mktemp("sac")
    train(SACConfig(env="hopper", seed=3, total_steps=600, learning_starts=200, checkpoint_every=200,
                    eval_episodes=2, out=str(run_dir)))
    evaluations = read_evaluations(run_dir / "eval.jsonl")
    worst, best = sorted(evaluations.values(), key=lambda c: c.data_level)[::len(evaluations) - 1]
    policies_dir = tmp_path_factory.mktemp("policies")
    export(ExportConfig(run=str(run_dir), medium_step=worst.step, expert_step=best.step,
                        min_expert_score=-100.0, out=str(policies_dir / "hopper")))
    return policies_dir


def test_sac_with_train_freq_2_makes_half_the_updates_and_keeps_it_across_a_resume(tmp_path):
    cfg = SACConfig(env="hopper", seed=4, total_steps=300, learning_starts=100, train_freq=2, checkpoint_every=100,
                    eval_episodes=1, out=str(tmp_path / "run"))
    assert train(cfg)._n_updates == (300 - 100) // 2
    resumed = train(dataclasses.replace(cfg, total_steps=400))  # from the checkpoint at 300
    assert resumed.train_freq.frequency == 2 and abs(resumed._n_updates - (400 - 100) // 2) <= 1  # SB3 may make
    # one update fewer around a resume
    with pytest.raises(ValueError, match=r"^--train-freq 1 differs from the run's 2 in .*another --out"):
        train(dataclasses.replace(cfg, total_steps=500, train_freq=1))


def test_a_run_that_lost_its_replay_buffer_resumes_from_a_reenactment_of_it(tmp_path):
    cfg = SACConfig(env="hopper", seed=5, total_steps=300, learning_starts=100, checkpoint_every=100, eval_episodes=1,
                    out=str(tmp_path / "run"))
    train(cfg)
    (tmp_path / "run/checkpoint/replay_buffer.pkl").unlink()  # as results/jobs.sh keeps a run: without it
    model = SAC.load(tmp_path / "run/checkpoint/model.zip", env=make_env("hopper"))
    record = reenact_replay_buffer(model, cfg, tmp_path / "run")
    buffer = model.replay_buffer
    assert record["transitions"] == buffer.size() == 300 and record["actors"] == 2  # the actors of steps 100 and 200
    ends = buffer.dones[:300, 0].astype(bool)
    assert 0 < ends.sum() < 300 and (buffer.timeouts[:300, 0] <= ends).all()
    np.testing.assert_array_equal(buffer.next_observations[:299][~ends[:299]], buffer.observations[1:300][~ends[:299]])
    np.testing.assert_allclose(np.abs(buffer.actions[:300]).max(), 1.0, atol=0.05)  # SAC's scaled actions, in [-1, 1]

    resumed = train(dataclasses.replace(cfg, total_steps=400))
    assert resumed.num_timesteps == 400 and resumed.replay_buffer.size() == 400
    assert [json.loads(line)["step"] for line in (tmp_path / "run/resumes.jsonl").read_text().splitlines()] == [300]
    assert max(read_evaluations(tmp_path / "run/eval.jsonl")) == 400

    run_actor(tmp_path / "run", 200).unlink()
    (tmp_path / "run/checkpoint/replay_buffer.pkl").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks the actors of steps 200 to re-enact it; allowed: .*replay_buffer.pkl"):
        train(dataclasses.replace(cfg, total_steps=500))


def test_generator_end_to_end(policies, minari_root, monkeypatch):
    monkeypatch.setattr("envs.policies.POLICIES_DIR", policies)  # these stand for the shipped policies
    manifest, actor_dir = load_manifest("hopper", policies)
    assert (actor_dir / manifest.policy_file("expert")).exists()
    assert manifest.medium.data_level < manifest.expert.data_level
    assert all(step < manifest.medium.step for step in manifest.replay_steps)

    for name in ("medium", "expert", "medium-expert"):
        generate(GenerateConfig(env="hopper", dataset=name, num_transitions=300, num_envs=4,
                                vectorization="sync", policies=str(policies)))
    medium = load_dataset("hopper-medium")
    assert medium.name == "hopper-medium" and medium.num_transitions == 300
    from_minari = minari.load_dataset("minrnn/hopper/medium-v0")
    assert from_minari.total_steps == 300
    assert from_minari.storage.metadata["ref_max_score"] == ENVS["hopper"].ref_max_score
    assert from_minari.storage.metadata["minrnn"]["medium"]["step"] == manifest.medium.step
    np.testing.assert_allclose(sorted(ep.rewards.sum() for ep in from_minari.iterate_episodes()),
                               sorted(medium.episode_returns()), rtol=1e-5)
    expert, both = load_dataset("hopper-expert"), load_dataset("hopper-medium-expert")
    np.testing.assert_array_equal(np.concatenate([ep.actions for ep in both.episodes]),
                                  np.concatenate([ep.actions for ep in medium.episodes + expert.episodes]))

    generate(GenerateConfig(env="hopper", dataset="medium-replay", num_envs=4, vectorization="sync",
                            policies=str(policies)))
    assert load_dataset("hopper-medium-replay").num_transitions == manifest.medium.step


def test_a_cached_dataset_is_generated_again_when_the_shipped_policies_change(
        policies, tmp_path, minari_root, monkeypatch, capsys):
    monkeypatch.setattr("envs.policies.POLICIES_DIR", policies)  # these stand for the shipped policies
    manifest = load_manifest("hopper")[0]
    assert load_dataset("hopper-medium-replay").num_transitions == manifest.medium.step
    assert "generating" in capsys.readouterr().out
    load_dataset("hopper-medium-replay")
    assert "generating" not in capsys.readouterr().out  # the same policies: read from the cache
    # a new export with another medium checkpoint (between the old medium and the expert)
    curve = read_evaluations(policies / "hopper" / "learning_curve.jsonl")
    between = next(c for c in curve.values() if manifest.medium.data_level < c.data_level < manifest.expert.data_level)
    export(ExportConfig(run=manifest.run, medium_step=between.step, expert_step=manifest.expert.step,
                        min_expert_score=-100.0, out=str(tmp_path / "hopper")))
    monkeypatch.setattr("envs.policies.POLICIES_DIR", tmp_path)
    assert load_dataset("hopper-medium-replay").num_transitions == between.step
    assert re.search(r"built from other shipped policies .*\(medium, replay_steps differ\): generating it again",
                     capsys.readouterr().out)


def test_two_callers_asking_for_a_missing_dataset_at_once_generate_it_once(policies, minari_root, monkeypatch,
                                                                           capsys):
    monkeypatch.setattr("envs.policies.POLICIES_DIR", policies)  # these stand for the shipped policies
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # each asks through its own lock file descriptor
        loaded = list(pool.map(lambda _: load_dataset("hopper-medium-replay"), range(2)))
    assert loaded[0].num_transitions == loaded[1].num_transitions == load_manifest("hopper")[0].medium.step
    assert capsys.readouterr().out.count("generating") == 1


def test_generating_a_dataset_another_caller_is_generating_waits_and_then_refuses_without_a_rollout(
        policies, minari_root, monkeypatch, capsys):
    monkeypatch.setattr("envs.policies.POLICIES_DIR", policies)  # these stand for the shipped policies
    cfg = GenerateConfig(env="hopper", dataset="medium", num_transitions=2000)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two `python -m envs.generate`, as two threads
        calls = [pool.submit(generate, cfg) for _ in range(2)]
        concurrent.futures.wait(calls)
    refused = [call.exception() for call in calls if call.exception() is not None]
    assert len(refused) == 1 and isinstance(refused[0], FileExistsError)
    assert f"{data_id('hopper', 'medium')} exists" in str(refused[0])
    assert capsys.readouterr().out.count("generating") == 1  # the refused call rolled nothing out
    assert sorted(minari.list_local_datasets()) == [data_id("hopper", "medium")]


def test_a_dataset_being_generated_holds_up_no_other_dataset(policies, minari_root, monkeypatch):
    monkeypatch.setattr("envs.policies.POLICIES_DIR", policies)  # these stand for the shipped policies
    started, release, real_generate = threading.Event(), threading.Event(), generate

    def slow_for_medium(cfg):  # medium's generation takes until released (a niced sweep's, say)
        if cfg.dataset == "medium":
            started.set()
            release.wait(300)
            cfg = dataclasses.replace(cfg, num_transitions=2000)
        return real_generate(cfg)

    monkeypatch.setattr("envs.generate.generate", slow_for_medium)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        medium = pool.submit(load_dataset, "hopper-medium")
        assert started.wait(300)
        replay = pool.submit(load_dataset, "hopper-medium-replay")
        try:
            assert replay.result(timeout=300).num_transitions == load_manifest("hopper")[0].medium.step
            assert not medium.done()
        finally:
            release.set()
        assert medium.result().num_transitions > 0
    assert sorted(minari.list_local_datasets()) == sorted([data_id("hopper", "medium"), data_id("hopper", "medium-replay")])


def test_a_run_short_of_expert_ships_no_expert_and_its_expert_datasets_say_so(policies, tmp_path, minari_root):
    run = load_manifest("hopper", policies)[0].run
    export(ExportConfig(run=run, min_expert_score=1e9, medium_tolerance=1e9, out=str(tmp_path / "hopper")))
    manifest, actor_dir = load_manifest("hopper", tmp_path)
    assert manifest.expert is None
    curve = [json.loads(line) for line in (actor_dir / "learning_curve.jsonl").read_text().splitlines()]
    best = max(curve, key=lambda record: record.get("sampled_normalized", record["normalized"]))
    for name in ("expert", "medium-expert"):
        with pytest.raises(NoExpertPolicy, match=rf"no expert policy for hopper: .* \(step {best['step']}\)"):
            generate(GenerateConfig(env="hopper", dataset=name, num_transitions=100, policies=str(tmp_path)))
    assert not list(minari_root.glob("**/expert*"))


def test_an_expert_from_another_run_ships_beside_the_medium_of_the_first(policies, tmp_path, minari_root):
    run = Path(load_manifest("hopper", policies)[0].run)
    medium_step = min(read_evaluations(run / "eval.jsonl"))
    other = tmp_path / "other-run"  # another run whose actor at the medium's step is an expert
    shutil.copytree(run, other)
    actor_file = other / "actors" / f"actor_{medium_step:07d}.pt"
    saved = torch.load(actor_file, weights_only=True)
    torch.save({**saved, "actor": {k: v + 0.1 for k, v in saved["actor"].items()}}, actor_file)
    records = [json.loads(line) for line in (other / "eval.jsonl").read_text().splitlines()]
    (other / "eval.jsonl").write_text("".join(json.dumps({**r, "sampled_normalized": 90.0 if r["step"] == medium_step
                                                          else 10.0}) + "\n" for r in records))
    export(ExportConfig(run=str(run), medium_step=medium_step, expert_run=str(other), out=str(tmp_path / "hopper")))
    manifest, actor_dir = load_manifest("hopper", tmp_path)
    assert (manifest.run, manifest.expert_run, manifest.expert.step) == (str(run), str(other), medium_step)
    assert (actor_dir / manifest.policy_file("expert")).read_bytes() == actor_file.read_bytes()
    assert (actor_dir / manifest.policy_file("medium")).read_bytes() == (
        run / "actors" / actor_file.name).read_bytes()  # the same step, the first run's actor
    expert = generate(GenerateConfig(env="hopper", dataset="expert", num_transitions=100, num_envs=2,
                                     policies=str(tmp_path)))
    direct = collect("hopper", [(0, SACActorPolicy(actor_file, make_env("hopper"), torch.Generator().manual_seed(0)))],
                     100, seed=0, num_envs=2, vectorization="sync")
    np.testing.assert_array_equal(np.concatenate([ep.actions for ep in expert.episodes]),
                                  np.concatenate([b.actions for b in direct]))
    assert policies_used(manifest, "expert")["expert_run"] == str(other)
    assert "expert_run" not in policies_used(manifest, "medium-replay")
    walker = tmp_path / "walker-run"
    shutil.copytree(other, walker)
    (walker / "config.json").write_text(json.dumps({**json.loads((run / "config.json").read_text()), "env": "walker2d"}))
    with pytest.raises(ValueError, match=r"^--expert-run .*walker-run is a walker2d run; allowed: a run of hopper"):
        export(ExportConfig(run=str(run), medium_step=medium_step, expert_run=str(walker), out=str(tmp_path / "x")))


def test_a_new_export_is_a_new_data_version_beside_the_old_data(policies, tmp_path, minari_root):
    shutil.copytree(policies / "hopper", tmp_path / "hopper")
    manifest = load_manifest("hopper", tmp_path)[0]
    old = generate(GenerateConfig(env="hopper", dataset="medium", num_transitions=100, policies=str(tmp_path)))
    other = next(step for step, c in read_evaluations(Path(manifest.run) / "eval.jsonl").items()
                 if step not in (manifest.medium.step, manifest.expert.step) and c.data_level < manifest.expert.data_level)
    export(ExportConfig(run=manifest.run, medium_step=other, expert_step=manifest.expert.step,
                        min_expert_score=-100.0, out=str(tmp_path / "hopper")))
    assert load_manifest("hopper", tmp_path)[0].data_version == manifest.data_version + 1
    new = generate(GenerateConfig(env="hopper", dataset="medium", num_transitions=100, policies=str(tmp_path)))
    assert sorted(minari.list_local_datasets()) == [
        f"minrnn/hopper/medium-v{manifest.data_version}", f"minrnn/hopper/medium-v{manifest.data_version + 1}"]
    assert old.identity()["sha256"] != new.identity()["sha256"]  # the old data is still there, unchanged
    reread = load_dataset(f"minari:minrnn/hopper/medium-v{manifest.data_version}", env="hopper")
    assert reread.identity()["sha256"] == old.identity()["sha256"]


def test_data_table_stands_beside_d4rls_and_names_what_cannot_be_built(policies, tmp_path, minari_root, monkeypatch):
    monkeypatch.setattr("envs.policies.POLICIES_DIR", policies)  # these stand for the shipped policies
    built = generate(GenerateConfig(env="hopper", dataset="medium", num_transitions=300))
    page = tmp_path / "page.md"
    page.write_text("# data\n<!-- data-table:start -->\nold\n<!-- data-table:end -->\nend\n")
    (row,) = stats.main(StatsConfig(envs=["hopper"], datasets=["medium"], json=str(tmp_path / "stats.json"),
                                    docs=str(page)))["datasets"]
    returns = built.normalized_returns()
    assert (row["episodes"], row["transitions"]) == (len(built.episodes), 300)
    assert row["mean"] == pytest.approx(returns.mean())
    assert row["percentiles"]["90"] == pytest.approx(np.percentile(returns, 90))
    assert row["mean_minus_d4rl"] == pytest.approx(returns.mean() - 44.0)
    text = page.read_text()
    assert "| hopper-medium | `minrnn/hopper/medium-v0` | " in text and "| 2,187 | 1,000,000 | 44 |" in text
    assert "old" not in text and text.endswith("<!-- data-table:end -->\nend\n")
    assert json.loads((tmp_path / "stats.json").read_text())["datasets"] == [row]
    # a run that reached no expert: its expert datasets are named as not built, with how far it got
    run = load_manifest("hopper")[0].run
    export(ExportConfig(run=run, min_expert_score=1e9, medium_tolerance=1e9, out=str(tmp_path / "short" / "hopper")))
    monkeypatch.setattr("envs.policies.POLICIES_DIR", tmp_path / "short")
    result = stats.main(StatsConfig(envs=["hopper"], datasets=["medium-expert"], json=str(tmp_path / "stats.json")))
    assert "no expert policy for hopper" in result["datasets"][0]["missing"] and result["experts"][0]["expert"] is None
    assert "| hopper-medium-expert | not built: no expert policy for hopper yet |" in stats.render(
        result["datasets"], result["experts"])
    with pytest.raises(ValueError, match="'ant' in --envs; valid: halfcheetah, hopper, walker2d"):
        stats.main(StatsConfig(envs=["ant"]))


def test_datasets_recorded_before_sampled_evaluations_stay_current(policies):
    manifest = load_manifest("hopper", policies)[0]
    assert policies_used(manifest, "medium")["medium"]["sampled_normalized"] is not None  # a run that recorded it
    old = dataclasses.replace(manifest, medium=Checkpoint(manifest.medium.step, manifest.medium.return_mean,
                                                          manifest.medium.normalized))
    # what a dataset built from a manifest without the field recorded: the same, so it is not built again
    assert policies_used(old, "medium")["medium"] == {"step": manifest.medium.step, "return_mean":
                                                      manifest.medium.return_mean, "normalized": manifest.medium.normalized}


def test_rollout_is_deterministic_and_independent_of_vectorization(policies):
    manifest, actor_dir = load_manifest("hopper", policies)

    def rollout(vectorization):
        policy = SACActorPolicy(actor_dir / manifest.policy_file("expert"), make_env("hopper"),
                                torch.Generator().manual_seed(5))
        buffers = collect("hopper", [(0, policy)], 200, seed=5, num_envs=2, vectorization=vectorization)
        return np.concatenate([b.actions for b in buffers]), np.concatenate([b.observations for b in buffers])

    for sync_array, async_array in zip(rollout("sync"), rollout("async")):
        np.testing.assert_array_equal(sync_array, async_array)


def test_export_picks_medium_near_d4rl_level_and_never_ships_a_weak_expert():
    # hopper: D4RL's medium data averages 44, so the band is [39, 49]
    evaluations = {step: Checkpoint(step, score * 32.5, score) for step, score in
                   [(10, 5.0), (20, 40.0), (30, 48.5), (40, 95.0), (50, 90.0)]}
    medium, expert = pick_checkpoints(ExportConfig(run="r"), "hopper", evaluations)
    assert (medium.step, expert.step) == (20, 40)
    medium, expert = pick_checkpoints(ExportConfig(run="r"), "hopper", {k: v for k, v in evaluations.items() if k < 40})
    assert (medium.step, expert) == (20, None)
    nearer = {**evaluations, 25: Checkpoint(25, 43.0 * 32.5, 43.0)}
    assert pick_checkpoints(ExportConfig(run="r"), "hopper", nearer)[0].step == 25
    # the data level is the sampled-action return where the run recorded it: here 30 only reaches the band
    sampled = {**evaluations, 20: Checkpoint(20, 1300.0, 40.0, 30.0), 30: Checkpoint(30, 1600.0, 47.0, 44.5)}
    assert pick_checkpoints(ExportConfig(run="r"), "hopper", sampled)[0].step == 30
    # walker2d's D4RL medium averages 62: none of these is one
    with pytest.raises(ValueError, match=r"within \[57.0, 67.0\]"):
        pick_checkpoints(ExportConfig(run="r"), "walker2d", evaluations)
    # a late collapse back into the band, after the run passed it, is no early-stopped medium
    collapsed_late = {**evaluations, 60: Checkpoint(60, 44.0 * 32.5, 44.0)}
    assert pick_checkpoints(ExportConfig(run="r"), "hopper", collapsed_late)[0].step == 20
    with pytest.raises(ValueError, match="not an expert"):
        pick_checkpoints(ExportConfig(run="r", expert_step=30), "hopper", evaluations)
    with pytest.raises(ValueError, match=r"no checkpoint .* within \[39.0, 49.0\] before .*10: 5.0"):
        pick_checkpoints(ExportConfig(run="r"), "hopper", {k: evaluations[k] for k in (10, 40)})
    with pytest.raises(ValueError, match=r"no checkpoint .* within \[39.0, 49.0\] before .* twice in a row"):
        pick_checkpoints(ExportConfig(run="r"), "hopper", {k: collapsed_late[k] for k in (10, 40, 50, 60)})
    # one evaluation above the band, then back in it: noise, not a run that has moved on
    noisy = {**evaluations, 40: Checkpoint(40, 52.0 * 32.5, 52.0), 45: Checkpoint(45, 46.0 * 32.5, 46.0)}
    assert pick_checkpoints(ExportConfig(run="r"), "hopper", noisy)[0].step == 45
    with pytest.raises(ValueError, match="not worse than expert"):
        pick_checkpoints(ExportConfig(run="r", medium_step=40, expert_step=50), "hopper", evaluations)
    # medium-replay is the replay up to medium: a step near D4RL's 402k transitions beats a nearer level
    sized = {step: Checkpoint(step, score * 32.5, score) for step, score in
             [(180_000, 44.0), (320_000, 47.0), (560_000, 44.5), (600_000, 95.0)]}
    assert pick_checkpoints(ExportConfig(run="r"), "hopper", sized)[0].step == 320_000
    assert pick_checkpoints(ExportConfig(run="r", replay_tolerance=0.1), "hopper", sized)[0].step == 180_000
    # the expert is judged by its data level too: deterministic 85 with sampled 41 is no expert's data
    sampled_expert = {**sized, 600_000: Checkpoint(600_000, 2750.0, 85.0, 41.0)}
    assert pick_checkpoints(ExportConfig(run="r"), "hopper", sampled_expert)[1] is None
    late = {**sampled_expert, 650_000: Checkpoint(650_000, 2700.0, 83.0, 81.0)}
    assert pick_checkpoints(ExportConfig(run="r"), "hopper", late)[1].step == 650_000


@pytest.mark.parametrize("name, valid", [
    ("ant-medium", "halfcheetah, hopper, walker2d"),
    ("hopper-mediocre", ", ".join(DATASETS)),
    ("d4rl:ant-medium-v2", "halfcheetah, hopper, walker2d"),
    ("d4rl:hopper-mediocre-v2", ", ".join(DATASETS)),
    ("d4rl:hopper-medium-v0", "only the -v2"),
    ("hopper", "'<env>-<dataset>'"),
])
def test_unknown_names_list_the_valid_ones(name, valid):
    with pytest.raises(ValueError, match=valid):
        load_dataset(name)


def test_missing_policies_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m envs.policies.export runs/sac/walker2d-s0"):
        load_manifest("walker2d", tmp_path)


def test_missing_truncated_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.hdf5"):
        load_dataset(str(tmp_path / "missing.hdf5"), env="hopper")
    write_d4rl_layout(tmp_path / "whole.hdf5")
    data = (tmp_path / "whole.hdf5").read_bytes()
    (tmp_path / "truncated.hdf5").write_bytes(data[:len(data) // 2])
    (tmp_path / "corrupt.hdf5").write_bytes(b"not hdf5 at all" * 100)
    for name in ("truncated.hdf5", "corrupt.hdf5"):
        with pytest.raises(OSError, match=f"{name}: truncated or corrupt"):
            load_dataset(str(tmp_path / name), env="hopper")
    with h5py.File(tmp_path / "no_timeouts.hdf5", "w") as f:
        for key in ("observations", "actions", "rewards", "terminals"):
            f.create_dataset(key, data=np.zeros(3))
    with pytest.raises(ValueError, match="no_timeouts.hdf5 .* lacks timeouts"):
        load_dataset(str(tmp_path / "no_timeouts.hdf5"), env="hopper")
    with pytest.raises(ValueError, match="needs env=, one of: halfcheetah, hopper, walker2d"):
        load_dataset(str(tmp_path / "whole.hdf5"))


@pytest.mark.parametrize("kwargs, message", [
    ({"obs_dim": 12}, r"observations has shape \(15, 12\), but hopper \(Hopper-v4\) needs shape \(15, 11\)"),
    ({"act_dim": 6}, r"actions has shape \(15, 6\), but hopper \(Hopper-v4\) needs shape \(15, 3\)"),
    ({"bad": ("rewards", 9, np.nan)}, r"rewards has NaN or infinite values \(first at row 9\)"),
    ({"bad": ("observations", 2, np.inf)}, r"observations has NaN or infinite values \(first at row 2\)"),
    ({"bad": ("actions", 13, -np.inf)}, r"actions has NaN or infinite values \(first at row 13\)"),
])
def test_wrong_sizes_and_non_finite_values_name_the_field(tmp_path, kwargs, message):
    write_d4rl_layout(tmp_path / "bad.hdf5", **kwargs)
    with pytest.raises(ValueError, match=message):
        load_dataset(str(tmp_path / "bad.hdf5"), env="hopper")


def test_minari_observations_of_the_wrong_size_are_refused(minari_root):
    minari.create_dataset_from_buffers("test/hopper/wide-v0", minari_buffers(2, obs_dim=17), env="Walker2d-v5")
    with pytest.raises(ValueError, match=r"observations has shape \(7, 17\), but hopper"):
        load_dataset("minari:test/hopper/wide-v0", env="hopper")


def test_interrupted_or_refused_write_leaves_nothing(minari_root, monkeypatch):
    nan_buffers = minari_buffers(2)
    nan_buffers[1].rewards[0] = np.nan
    with pytest.raises(ValueError, match="rewards has NaN"):
        write_suite_dataset("minrnn/hopper/nan-v0", "hopper", "hopper-nan", nan_buffers, "", {})

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("envs.generate.write_d4rl_file", crash)
    with pytest.raises(KeyboardInterrupt):
        write_suite_dataset("minrnn/hopper/crash-v0", "hopper", "hopper-crash", minari_buffers(2), "", {})
    leftovers = [p.relative_to(minari_root) for p in minari_root.rglob("*") if p.is_dir()]
    assert not [p for p in leftovers if p.name in ("nan-v0", "crash-v0") or p.name.startswith(".")], leftovers


@pytest.fixture
def http_dir(tmp_path):
    """A directory served over http on 127.0.0.1 by a throwaway http.server."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_d4rl_download_then_offline_error(http_dir, tmp_path, monkeypatch):
    served, url = http_dir
    columns = write_d4rl_layout(served / "hopper_medium_replay-v2.hdf5")
    d4rl_dir = tmp_path / "d4rl"
    monkeypatch.setenv("D4RL_DATASET_DIR", str(d4rl_dir))
    monkeypatch.setenv("D4RL_URL", url)
    dataset = load_dataset("d4rl:hopper-medium-replay-v2")
    assert dataset.name == "d4rl:hopper-medium-replay-v2" and dataset.env == "hopper"
    np.testing.assert_array_equal(np.concatenate([ep.rewards for ep in dataset.episodes]), columns["rewards"])
    assert sorted(p.name for p in d4rl_dir.iterdir()) == ["hopper_medium_replay-v2.hdf5"]

    with pytest.raises(FileNotFoundError, match="hopper_expert-v2.hdf5 failed .*404"):
        load_dataset("d4rl:hopper-expert-v2")
    with socket.socket() as probe:  # a port with nothing listening: what being offline looks like
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("D4RL_URL", closed_url)
    expected_file = d4rl_dir / "walker2d_medium_expert-v2.hdf5"
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("d4rl:walker2d-medium-expert-v2")
    message = str(error.value)
    assert str(expected_file) in message and "D4RL_DATASET_DIR" in message
    assert f"{closed_url}/walker2d_medium_expert-v2.hdf5" in message
    assert sorted(p.name for p in d4rl_dir.iterdir()) == ["hopper_medium_replay-v2.hdf5"]
