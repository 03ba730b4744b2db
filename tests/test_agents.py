import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.decision import AgentConfig, DecisionAgent, agent_version
from agents.regimes import REGIMES
from minrnn import BACKBONES
from suite.rundir import load_agent
from suite.training import TrainConfig, evaluate_agent

REPO = Path(__file__).resolve().parent.parent
BACKBONE_NAMES = list(BACKBONES)


def small_agent(backbone, regime, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    cfg = AgentConfig(backbone=backbone, regime=regime, context_len=6, d_model=16, n_layers=2,
                      n_heads=2 if backbone == "attention" else 1, dropout=0.1)
    rng = np.random.default_rng(seed)
    return DecisionAgent(cfg, 11, 3, rng.normal(size=11), rng.uniform(0.5, 2.0, size=11)).to(dtype).eval()


def recorded_trajectory(length, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.rand(length, generator=gen, dtype=dtype) * 3
    rtg = (3000 - torch.cumsum(rewards, 0) + rewards)[None]
    obs = torch.randn(1, length, 11, generator=gen, dtype=dtype)
    actions = torch.rand(1, length, 3, generator=gen, dtype=dtype) * 2 - 1
    return rtg, obs, actions, torch.arange(length)[None]


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_initialisation_scales(backbone):
    """The reference initialisation (agents.decision.initialise); init="torch" keeps PyTorch's."""
    torch.manual_seed(0)
    cfg = AgentConfig(backbone=backbone, d_model=64, n_layers=2)
    agent = DecisionAgent(cfg, 11, 3)
    assert agent.embed_timestep.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert agent.embed_state.weight.std().item() == pytest.approx(0.02, rel=0.15)
    for name, module in agent.named_modules():
        if isinstance(module, torch.nn.LayerNorm):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0), name
        if ".mixer." in name and backbone == "mamba":
            continue
        if isinstance(module, torch.nn.Linear) and module.weight.numel() >= 1000:
            assert module.weight.std().item() == pytest.approx(0.02, rel=0.1), name
        if isinstance(module, torch.nn.Linear) and module.bias is not None:
            assert torch.all(module.bias == 0), name
    if backbone == "mamba":  # mamba_ssm's own: S4D-real A, D = 1, dt in [1e-3, 0.1], out_proj / sqrt(2 n_layers)
        mixer = agent.backbone.blocks[0].mixer
        assert torch.equal(mixer.A_log[0], torch.log(torch.arange(1, mixer.d_state + 1.0)))
        assert torch.all(mixer.D == 1)
        dt = torch.nn.functional.softplus(mixer.dt_proj.bias)
        assert 1e-3 <= dt.min().item() and dt.max().item() <= 0.1 + 1e-6
        kaiming_std = 1 / (3 * mixer.d_inner) ** 0.5  # uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert mixer.out_proj.weight.std().item() == pytest.approx(kaiming_std / 2, rel=0.05)
    torch.manual_seed(0)
    default = DecisionAgent(AgentConfig(backbone=backbone, d_model=64, n_layers=2, init="torch"), 11, 3)
    assert default.embed_timestep.weight.std().item() == pytest.approx(1.0, rel=0.05)
    assert (agent_version({"init": "torch"}), agent_version({}), agent_version({"init": "reference"})) == (1, 1, 2)


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_acting_step_by_step_equals_training_forward(backbone, regime):
    """A recorded trajectory fed through the acting path gives the actions training predicts."""
    agent = small_agent(backbone, regime)
    rtg, obs, actions, timesteps = recorded_trajectory(40)
    expected = agent.predict_trajectory(rtg, obs, actions, timesteps)[0].numpy()
    # two envs: the second starts its episode 15 steps later, after a first short episode
    actor, acted = agent.actor(2), []
    for t in range(55):
        first, second = min(t, 39), t - 15 if t >= 15 else t
        row_t = [first, second]
        taken = None if t == 0 else np.stack([actions[0, row_t[i] - 1].numpy() if row_t[i] > 0 else np.zeros(3)
                                              for i in range(2)])
        acted.append(actor.act(rtg[0, row_t].numpy(), obs[0, row_t].numpy(), row_t, taken_actions=taken))
    acted = np.stack(acted)
    np.testing.assert_allclose(acted[:40, 0], expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(acted[15:, 1], expected, rtol=1e-8, atol=1e-10)  # after its reset


@pytest.mark.parametrize("regime", ["episode", "stream"])
def test_actor_keeps_its_inputs_when_the_caller_changes_them_in_place(regime):
    """A caller that advances its timestep array in place after each call (rollout did) acts as one
    that passes new arrays: the next a-token keeps the timestep its action was taken at."""
    agent = small_agent("mingru", regime)
    rtg, obs, _, _ = recorded_trajectory(8)
    reused, fresh = agent.actor(1), agent.actor(1)
    t = np.zeros(1, dtype=np.int64)
    for step in range(8):
        acted = reused.act(rtg[:, step].numpy(), obs[:, step].numpy(), t)
        np.testing.assert_array_equal(acted, fresh.act(rtg[:, step].numpy(), obs[:, step].numpy(), [step]))
        t += 1


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_stream_training_chunks_equal_acting(backbone):
    """The stream regime's training path (K-step chunks, the state carried between them, rows that
    start new episodes at different steps, episodes ending inside a chunk) predicts the actions the
    actor takes when it replays the same episodes in two vector-env rows (float64)."""
    from types import SimpleNamespace

    from agents.regimes import REGIMES

    agent = small_agent(backbone, "stream")
    gen = torch.Generator().manual_seed(1)
    episodes = [SimpleNamespace(rewards=torch.rand(n, generator=gen).double().numpy() * 3,  # float32 values:
                                observations=torch.randn(n, 11, generator=gen).double().numpy(),  # batches
                                actions=(torch.rand(n, 3, generator=gen) * 2 - 1).double().numpy())  # hold float32
                for n in (13, 9, 20, 4)]
    sampler = REGIMES["stream"].sampler(episodes, 2, agent.cfg.context_len, 1000, seed=0)
    visited, trained = [[], []], [[], []]  # per row: (episode, t) in order, and the predicted actions
    carried = None
    for _ in range(10):
        batch = sampler.sample("cpu", carried)
        floats = {k: v.double() for k, v in batch.items() if k in ("returns_to_go", "observations", "actions")}
        predicted, state = agent(floats["returns_to_go"], floats["observations"], floats["actions"],
                                 batch["timesteps"], batch.get("state"))
        carried = sampler.carried(state)
        for row in range(2):
            for j in np.flatnonzero(batch["mask"][row].numpy()):
                visited[row].append((sampler.episode[row], int(batch["timesteps"][row, j])))
                trained[row].append(predicted[row, j].detach().numpy())
    assert any(t == 0 for e, t in visited[0][1:]) and [t for _, t in visited[0]] != [t for _, t in visited[1]]
    rtg = [np.cumsum(ep.rewards[::-1])[::-1].astype(np.float32).astype(np.float64) for ep in episodes]
    actor, steps = agent.actor(2), min(map(len, visited))
    for i in range(steps):
        (e0, t0), (e1, t1) = visited[0][i], visited[1][i]
        taken = None if i == 0 else np.stack([episodes[e].actions[t - 1] if t > 0 else np.zeros(3)
                                              for e, t in ((e0, t0), (e1, t1))])
        acted = actor.act([rtg[e0][t0], rtg[e1][t1]], np.stack([episodes[e0].observations[t0],
                          episodes[e1].observations[t1]]), [t0, t1], taken_actions=taken)
        for row in range(2):
            np.testing.assert_allclose(acted[row], trained[row][i], rtol=1e-8, atol=1e-10,
                                       err_msg=f"row {row}, step {i}: episode {visited[row][i]}")


def test_window_regime_sees_only_the_last_k_steps():
    agent = small_agent("mingru", "window")
    rtg, obs, actions, timesteps = recorded_trajectory(30)
    expected = agent.predict_trajectory(rtg, obs, actions, timesteps)
    changed = obs.clone()
    changed[:, 10] += 1.0
    predicted = agent.predict_trajectory(rtg, changed, actions, timesteps)
    k = agent.cfg.context_len
    # inside the window the change is felt, if faintly (the gates decay it by about half a token)
    assert (predicted[0, 10:10 + k] - expected[0, 10:10 + k]).abs().amax(-1).min() > 1e-12
    torch.testing.assert_close(predicted[0, 10 + k:], expected[0, 10 + k:], rtol=0, atol=0)
    # the episode regime still remembers it past the window
    episode_agent = small_agent("mingru", "episode")
    before = episode_agent.predict_trajectory(rtg, obs, actions, timesteps)
    after = episode_agent.predict_trajectory(rtg, changed, actions, timesteps)
    assert (after[0, 10 + k] - before[0, 10 + k]).abs().max() > 1e-9


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_training_lowers_the_loss_on_a_batch_it_can_overfit(backbone):
    agent = small_agent(backbone, "window", dtype=torch.float32).train()
    rtg, obs, actions, timesteps = (t.float() if t.is_floating_point() else t for t in recorded_trajectory(12))
    batch = {"returns_to_go": rtg.repeat(4, 1), "observations": obs.repeat(4, 1, 1),
             "actions": actions.repeat(4, 1, 1), "timesteps": timesteps.repeat(4, 1),
             "mask": torch.ones(4, 12)}
    optimizer = torch.optim.AdamW(agent.parameters(), lr=3e-3)
    first = agent.loss(**batch)[0].item()
    for _ in range(150):
        loss = agent.loss(**batch)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    agent.eval()
    assert agent.loss(**batch)[0].item() < 0.2 * first


def test_loss_ignores_padded_steps():
    agent = small_agent("mingru", "window")
    rtg, obs, actions, timesteps = recorded_trajectory(10)
    mask = torch.ones(1, 10, dtype=torch.float64)
    mask[:, 6:] = 0
    padded = actions.clone()
    padded[:, 6:] = 5.0  # garbage in the padded steps must not change the loss
    torch.testing.assert_close(agent.loss(rtg, obs, padded, timesteps, mask)[0],
                               agent.loss(rtg, obs, actions, timesteps, mask)[0])


def run_script(*args, timeout=600):
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def train_args(d4rl_file, out, *extra):
    return ("train.py", "--dataset", str(d4rl_file), "--d-model", "16", "--batch-size", "8",
            "--eval-every", "1000", "--eval-episodes", "2", "--num-envs", "2", "--out", str(out), *extra)


@pytest.mark.parametrize("regime", ["window", "stream"])
def test_resume_continues_the_same_run(d4rl_file, tmp_path, regime):
    """Stopping after a checkpoint and resuming gives the same weights as never stopping (stream:
    the rows' places in their episodes and the carried state come back too)."""
    common = ("--regime", regime, "--checkpoint-every", "10")
    whole = run_script(*train_args(d4rl_file, tmp_path / "whole", "--steps", "20", *common))
    assert whole.returncode == 0, whole.stderr
    first = run_script(*train_args(d4rl_file, tmp_path / "split", "--steps", "10", *common))
    assert first.returncode == 0, first.stderr
    resumed = run_script(*train_args(d4rl_file, tmp_path / "split", "--steps", "20", *common, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 20
    for key in a["agent"]:
        torch.testing.assert_close(a["agent"][key], b["agent"][key], rtol=1e-6, atol=1e-7)
    for state_a, state_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        torch.testing.assert_close(state_a["exp_avg_sq"], state_b["exp_avg_sq"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("backbone", ["mingru", "minlstm", "mamba", "attention"])
def test_an_evaluation_during_training_equals_one_of_the_checkpoint_it_saved(d4rl_file, tmp_path, backbone):
    """The evaluation at a run's last step, made in the training process after an earlier evaluation and
    optimizer steps, equals evaluating the checkpoint of that step afresh, return for return (the same env
    seeds). Mamba's was made with the conv weight of its first evaluation before ffe7746."""
    out = tmp_path / backbone
    trained = run_script(*train_args(d4rl_file, out, "--backbone", backbone, "--steps", "20", "--eval-every", "10",
                                     "--checkpoint-every", "10", "--lr", "0.01", "--warmup-steps", "1"))
    assert trained.returncode == 0, trained.stderr
    logged = [e for e in map(json.loads, (out / "eval.jsonl").read_text().splitlines()) if e["step"] == 20]
    agent, config = load_agent(out)
    fresh = evaluate_agent(agent, replace(TrainConfig(), **{k: config[k] for k in TrainConfig.__dataclass_fields__}))
    assert [e["returns"] for e in logged] == [e["returns"] for e in fresh] and len(logged) == 2


def test_killed_run_keeps_its_last_checkpoint_and_resumes(d4rl_file, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    process = subprocess.Popen([sys.executable, *train_args(d4rl_file, out, "--steps", "100000",
                                                            "--checkpoint-every", "5")],
                               cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = torch.load(out / "checkpoint.pt", weights_only=False)  # whole, though killed at any moment
    assert saved["step"] % 5 == 0 and saved["step"] >= 5
    resumed = run_script(*train_args(d4rl_file, out, "--steps", str(saved["step"] + 5), "--checkpoint-every", "5",
                                     "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == saved["step"] + 5


@pytest.fixture(scope="module")
def tiny_run(d4rl_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    result = run_script(*train_args(d4rl_file, out, "--steps", "5", "--backbone", "minlstm", "--regime", "episode"))
    assert result.returncode == 0, result.stderr
    return out


def test_evaluate_writes_json_and_a_video_that_decodes(tiny_run, tmp_path):
    import imageio.v3 as iio

    result = run_script("evaluate.py", str(tiny_run), "--episodes", "3", "--num-envs", "2",
                        "--target-returns", "3600", "--json", str(tmp_path / "eval.json"),
                        "--video", str(tmp_path / "videos"), "--video-size", "128")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "eval.json").read_text())
    (only,) = summary["results"]
    assert only["episodes"] == 3 and len(only["returns"]) == 3
    expected = 100 * (np.mean(only["returns"]) + 20.272305) / (3234.3 + 20.272305)
    assert only["normalized_mean"] == pytest.approx(expected)
    assert summary["backbone"] == "minlstm" and summary["regime"] == "episode"
    videos = list((tmp_path / "videos").rglob("*.mp4"))
    assert videos
    frames = iio.imread(videos[0])
    assert frames.ndim == 4 and frames.shape[1:] == (128, 128, 3) and len(frames) > 1
    assert frames.std() > 0  # a picture, not a blank
    # the camera follows the hopper: its orange-brown body is in every frame
    rgb = frames.astype(int)
    body = (rgb[..., 0] > rgb[..., 1] + 20) & (rgb[..., 0] > rgb[..., 2] + 30)
    assert body.reshape(len(frames), -1).any(1).all()


def test_stable_baselines3s_evaluate_policy_on_a_loaded_run_gives_evaluate_pys_returns(tiny_run, tmp_path):
    """The run as a policy (agents.policy) in SB3's own evaluation loop and vector env, on the seeds
    evaluate.py uses (100, 101), plays the same episodes as evaluate.py."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    from agents.policy import RewardInObservation
    from suite.rundir import load_policy
    from envs import make_env

    result = run_script("evaluate.py", str(tiny_run), "--episodes", "4", "--num-envs", "2",
                        "--target-returns", "3600", "--json", str(tmp_path / "eval.json"))
    assert result.returncode == 0, result.stderr
    (expected,) = json.loads((tmp_path / "eval.json").read_text())["results"]
    policy = load_policy(tiny_run, target_return=3600)
    env = make_vec_env(lambda: make_env(policy.env), n_envs=2, seed=100, wrapper_class=RewardInObservation)
    returns, lengths = evaluate_policy(policy, env, n_eval_episodes=4, return_episode_rewards=True)
    # Monitor rounds a return to 6 decimals; rows finished early reset at every step in SB3's loop,
    # which may move the other row's float32 arithmetic in the last bit
    assert sorted(returns) == pytest.approx(sorted(expected["returns"]), rel=1e-5)
    assert np.mean(lengths) == expected["length_mean"]


def test_bad_names_list_the_valid_ones(d4rl_file, tmp_path):
    result = run_script(*train_args(d4rl_file, tmp_path / "a", "--backbone", "transformer", "--steps", "1"))
    assert result.returncode != 0 and "transformer" in result.stderr and "mingru" in result.stderr
    result = run_script("train.py", "--env", "ant", "--steps", "1", "--out", str(tmp_path / "b"))
    assert result.returncode != 0 and "'ant'" in result.stderr and "hopper" in result.stderr
    result = run_script("train.py", "--dataset", "mediocre", "--steps", "1", "--out", str(tmp_path / "c"))
    assert result.returncode != 0 and "mediocre" in result.stderr and "medium-replay" in result.stderr
    result = run_script(*train_args(d4rl_file, tmp_path / "d", "--regime", "sliding", "--steps", "1"))
    assert result.returncode != 0 and "sliding" in result.stderr and "episode" in result.stderr


def test_checkpoint_on_the_wrong_env_names_both(tiny_run):
    result = run_script("evaluate.py", str(tiny_run), "--env", "walker2d", "--episodes", "1")
    assert result.returncode != 0
    assert "'hopper'" in result.stderr and "'walker2d'" in result.stderr


def test_run_directory_without_checkpoint(tmp_path):
    result = run_script("evaluate.py", str(tmp_path), "--episodes", "1")
    assert result.returncode != 0 and "no checkpoint" in result.stderr and str(tmp_path) in result.stderr


def test_presets_config_files_and_flags_in_that_order():
    from suite.training import load_config

    assert load_config([]).d_model == 64  # the cpu preset
    paper = load_config(["--preset", "paper", "--dataset", "medium-expert"])
    assert (paper.d_model, paper.steps, paper.lr) == (128, 100_000, 1e-4)
    assert load_config(["--preset", "paper", "--dataset", "medium"]).d_model == 256  # configs/paper/hopper-medium.json
    assert load_config(["--preset", "paper", "--dataset", "medium", "--d-model", "96"]).d_model == 96
    with pytest.raises(SystemExit, match="unknown preset 'gpu'.*cpu, paper"):
        load_config(["--preset", "gpu"])


def test_a_run_does_not_depend_on_what_loading_its_dataset_drew_from_the_rngs(d4rl_file, tmp_path, monkeypatch):
    """A suite dataset generated on first use draws from the global RNGs (SAC actors are built,
    actions sampled); the run must equal one whose dataset came from the cache."""
    import random

    from suite import training as train

    def run(out):
        cfg = train.load_config(list(train_args(d4rl_file, out, "--steps", "3", "--eval-episodes", "1"))[1:])
        return torch.load(train.train(cfg) / "checkpoint.pt", weights_only=False)["agent"]

    cached = run(tmp_path / "cached")
    load = train.load_dataset

    def load_after_drawing(*args, **kwargs):
        random.random(), np.random.rand(), torch.rand(1)
        return load(*args, **kwargs)

    monkeypatch.setattr(train, "load_dataset", load_after_drawing)
    generated = run(tmp_path / "generated")
    for key in cached:
        assert torch.equal(cached[key], generated[key]), key


@pytest.mark.parametrize("backbone", ["mingru", "mamba", "attention"])
def test_stale_state_benchmark_recomputes_the_carried_state_from_t0(backbone):
    """With the weights unchanged and dropout off, the state the stream sampler carried into a chunk
    equals the one benchmarks/stale_state.py recomputes from t = 0 row by row: its `fresh` column
    differs from `carried` by the weights' age alone."""
    from types import SimpleNamespace

    from agents.regimes import REGIMES
    from benchmarks.stale_state import fresh_state

    agent = small_agent(backbone, "stream", dtype=torch.float32)
    gen = torch.Generator().manual_seed(2)
    episodes = [SimpleNamespace(rewards=torch.rand(n, generator=gen).numpy(), observations=torch.randn(n, 11, generator=gen).numpy(),
                                actions=(torch.rand(n, 3, generator=gen) * 2 - 1).numpy()) for n in (70, 55, 64)]
    sampler = REGIMES["stream"].sampler(episodes, 3, agent.cfg.context_len, 1000, seed=0)
    with torch.no_grad():
        carried = None
        for _ in range(5):
            batch = sampler.sample("cpu", carried)
            _, state = agent(batch["returns_to_go"], batch["observations"], batch["actions"], batch["timesteps"],
                             batch.get("state"))
            carried = sampler.carried(state)
        batch = sampler.sample("cpu", carried)
        assert (sampler.offset - agent.cfg.context_len > 0).sum() >= 2  # rows deep into their episodes
        fresh = fresh_state(agent, sampler, batch["state"])
    for carried_layer, fresh_layer in zip(batch["state"], fresh):
        for carried, recomputed in zip(carried_layer, fresh_layer):
            torch.testing.assert_close(recomputed.float(), carried.float(), rtol=1e-5, atol=1e-6)


def test_a_run_saved_when_the_regime_was_called_context_evaluates_and_resumes(d4rl_file, tmp_path):
    out = tmp_path / "old"
    assert run_script(*train_args(d4rl_file, out, "--steps", "5", "--regime", "stream")).returncode == 0
    saved = torch.load(out / "checkpoint.pt", weights_only=False)
    config = {("context" if name == "regime" else name): value for name, value in saved["config"].items()}
    torch.save({**saved, "config": config}, out / "checkpoint.pt")  # as runs before issue 36 were written
    (out / "config.json").write_text(json.dumps(config))

    from suite.rundir import load_agent
    agent, loaded = load_agent(out)
    assert agent.cfg.regime == "stream" and loaded["regime"] == "stream"
    result = run_script(*train_args(d4rl_file, out, "--steps", "10", "--regime", "stream", "--resume"))
    assert result.returncode == 0, result.stderr
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 10
    result = run_script(*train_args(d4rl_file, out, "--steps", "15", "--context", "stream", "--resume"))
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "error: --context is now --regime; pass --regime with the same value(s)"]


def test_a_checkpoint_whose_config_lacks_agent_fields_is_named_in_one_line(tiny_run, tmp_path):
    saved = torch.load(tiny_run / "checkpoint.pt", weights_only=False)
    saved["config"] = {k: v for k, v in saved["config"].items() if k not in ("d_model", "n_layers")}
    torch.save(saved, tmp_path / "checkpoint.pt")
    result = run_script("evaluate.py", str(tmp_path / "checkpoint.pt"), "--episodes", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'checkpoint.pt'}: its config lacks the agent field(s) d_model, n_layers; expected a "
        f"checkpoint written by train.py, whose config has every field of AgentConfig")
