"""Evaluating a trained agent in the simulator: evaluate.py's config, its checks and its work (the rollouts per
target return, the summary, tensorboard, videos, MuJoCo's viewer, the side-by-side mp4)."""
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from agents.decision import DecisionAgent
from agents.evaluation import rollout
from agents.policy import DecisionPolicy, RewardInObservation
from envs import ENVS, env_spec, make_env
from suite.rundir import checkpoint_file, load_agent
from suite.runutils import DEVICE, NON_NEGATIVE, POSITIVE, SEED, atomic_path, pick_device, seed_everything
from suite.side_by_side import write_side_by_side


@dataclass
class EvalConfig:
    run_dir: str = ""  # a run directory, or a checkpoint file
    episodes: int = 10  # episodes per target return
    target_returns: list[float] = field(default_factory=list)  # the returns to condition on; none: the env's DT targets
    num_envs: int = 10  # vector envs acting at once (the backbone state batched)
    seed: int = 100  # evaluation episodes start from other seeds than training's
    json: str = ""  # a file to write the results to, as JSON
    video: str = ""  # directory for mp4 rollouts
    video_size: int = 240  # width and height of the video's frames, in pixels
    compare_with: list[str] = field(default_factory=list)  # more runs to act beside RUN_DIR in --side-by-side's mp4
    side_by_side: str = ""  # an mp4 of RUN_DIR and --compare-with's runs acting from one start state, tiled
    watch: bool = False  # one episode in MuJoCo's live viewer (needs a display)
    env: str = ""  # the env to act in; default: the one the agent was trained on
    threads: int = 1  # torch threads (0: torch's default); one is fastest for acting at these sizes
    device: str = "auto"  # where the agent runs (auto: CUDA when present)


CHECKS = {
    **dict.fromkeys(("episodes", "num_envs", "video_size"), POSITIVE),
    "threads": NON_NEGATIVE,
    "seed": SEED,
    "target_returns": (lambda v: bool(np.isfinite(v).all()), "finite numbers, e.g. --target-returns 3600 1800"),
    "env": (lambda v: not v or v in ENVS, f"{', '.join(sorted(ENVS))}, or empty for the env the agent was trained on"),
    "device": DEVICE,
}


def check_env_fits(agent: DecisionAgent, trained_env: str, env: str) -> None:
    spaces = make_env(env)
    obs_dim, act_dim = spaces.observation_space.shape[0], spaces.action_space.shape[0]
    if env != trained_env or (obs_dim, act_dim) != (agent.obs_dim, agent.act_dim):
        raise ValueError(f"the checkpoint was trained on env {trained_env!r} (observations {agent.obs_dim}, "
                         f"actions {agent.act_dim}); it cannot act in env {env!r} "
                         f"(observations {obs_dim}, actions {act_dim})")


def watch(agent: DecisionAgent, env: str, target_return: float, seed: int) -> None:
    """One episode in MuJoCo's passive viewer window, in real time."""
    import mujoco.viewer

    sim = RewardInObservation(make_env(env))
    obs, _ = sim.reset(seed=seed)
    policy, state, episode_return, t, done = DecisionPolicy(agent, env, target_return), None, 0.0, 0, False
    with mujoco.viewer.launch_passive(sim.unwrapped.model, sim.unwrapped.data) as viewer:
        while viewer.is_running() and not done:
            action, state = policy.predict(obs, state)
            obs, reward, terminated, truncated, _ = sim.step(action)
            episode_return, t, done = episode_return + reward, t + 1, terminated or truncated
            viewer.sync()
    print(f"return {episode_return:.1f} in {t} steps")


def log_video(writer: SummaryWriter, video_dir: str, step: int) -> None:
    """Read each mp4 back and log 8 evenly spaced frames to tensorboard.

    (SummaryWriter.add_video needs moviepy 1's `moviepy.editor`, which moviepy 2 dropped.)
    """
    import imageio.v3 as iio

    for path in sorted(Path(video_dir).glob("*.mp4")):
        frames = iio.imread(path)  # (T, H, W, C)
        picked = frames[np.linspace(0, len(frames) - 1, 8).astype(int)]
        writer.add_images(f"rollout/{path.stem}", picked, step, dataformats="NHWC")


def evaluate(cfg: EvalConfig) -> dict:
    """evaluate.py's work (its --help says what): the summary it prints, as a dict ({} for a video of several runs
    or the live viewer)."""
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.compare_with and not cfg.side_by_side:
        raise ValueError("--compare-with names the runs of --side-by-side FILE.mp4: give that too")
    if cfg.side_by_side:
        write_side_by_side([cfg.run_dir, *cfg.compare_with], cfg.side_by_side, cfg.target_returns,
                           cfg.seed, cfg.video_size, cfg.env, pick_device(cfg.device))
        return {}
    agent, train_config = load_agent(cfg.run_dir, pick_device(cfg.device))
    run_dir = checkpoint_file(cfg.run_dir).parent
    env = cfg.env or train_config["env"]
    check_env_fits(agent, train_config["env"], env)
    targets = cfg.target_returns or list(env_spec(env).target_returns)
    if cfg.watch:
        watch(agent, env, targets[0], cfg.seed)
        return {}
    results = []
    for i, target in enumerate(targets):
        video_dir = os.path.join(cfg.video, f"target{int(target)}") if cfg.video else None
        result = rollout(agent, env, cfg.episodes, target, num_envs=cfg.num_envs, seed=cfg.seed,
                         video_dir=video_dir, video_size=cfg.video_size)
        results.append(result)
        print(f"{env} target {target:.0f}: return {result['return_mean']:.1f} +- {result['return_std']:.1f}, "
              f"normalized {result['normalized_mean']:.1f} +- {result['normalized_std']:.1f} "
              f"over {result['episodes']} episodes ({result['env_steps_per_s']:.0f} env steps/s)")
    summary = {"run_dir": str(run_dir), "env": env, "dataset": train_config["dataset"],
               "backbone": train_config["backbone"], "regime": train_config["regime"],
               "seed": train_config["seed"], "results": results}
    writer = SummaryWriter(str(run_dir / "tb"))
    for result in results:
        writer.add_scalar(f"evaluate/normalized_return_{int(result['target_return'])}", result["normalized_mean"])
    if cfg.video:
        for target in targets:
            log_video(writer, os.path.join(cfg.video, f"target{int(target)}"), 0)
        print(f"videos in {cfg.video}")
    writer.close()
    if cfg.json:
        with atomic_path(cfg.json) as tmp:  # sweep.py reads it: never a half-written file
            tmp.write_text(json.dumps(summary, indent=2))
        print(f"wrote {cfg.json}")
    return summary

