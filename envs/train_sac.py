"""Train a Stable-Baselines3 SAC behaviour policy, D4RL's recipe, resumable.

    python -m envs.train_sac --env hopper --seed 0 --total-steps 1000000

Every `checkpoint_every` steps it writes, atomically, into the run directory:
  checkpoint/model.zip, checkpoint/replay_buffer.pkl  to resume (rerun the same command); a run directory
                                                       without the buffer (copied without it: 300 MB) resumes
                                                       with a re-enactment of it (`reenact_replay_buffer`)
  actors/actor_0010000.pt                              the actor alone (about 0.3 MB)
  eval.jsonl                                           return over `eval_episodes`, deterministic (the
                                                       actor's mean) and sampled (as the datasets act)
and logs SAC's losses and the evaluation return to tensorboard (tb/).
"""
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy

from envs.policies import run_actor, saved_actors
from envs.policies.actors import save_actor
from envs.collect import collect, replay_schedule
from envs.specs import ENVS, make_env, normalized_score
from suite.runutils import (NON_NEGATIVE, POSITIVE, SEED, append_json_line, atomic_path, expected_errors, hold_run,
                            one_of, parse_config)


@dataclass
class SACConfig:
    env: str = "hopper"
    seed: int = 0
    total_steps: int = 1_000_000
    learning_starts: int = 10_000  # SB3's default is 100; D4RL-style runs warm up longer
    # SB3's: gradient_steps updates every train_freq env steps. train_freq 2 halves the updates per env step,
    # so the run reaches a level after about twice the env steps: a longer replay up to medium, as D4RL's
    train_freq: int = 1
    gradient_steps: int = 1
    checkpoint_every: int = 10_000
    eval_episodes: int = 10
    threads: int = 1
    out: str = ""  # default: runs/sac/{env}-s{seed}

    def run_dir(self) -> Path:
        return Path(self.out or f"runs/sac/{self.env}-s{self.seed}")


CHECKS = {"env": one_of(sorted(ENVS)), "seed": SEED, **dict.fromkeys(
    ("total_steps", "checkpoint_every", "eval_episodes", "train_freq", "gradient_steps"), POSITIVE),
    "learning_starts": NON_NEGATIVE, "threads": POSITIVE}


def reenact_replay_buffer(model: SAC, cfg: SACConfig, run_dir: Path) -> dict:
    """Fill the empty replay buffer of `model`, loaded from a run directory that lost its buffer, with a
    re-enactment of the run's transitions so far: the run's saved actors rolled out as
    medium-replay is (envs.generate), as many transitions as the model's step. Not the buffer the
    run had (each actor holds for a whole checkpoint interval, episodes run side by side), so the
    run goes on from an approximation of its state; returns the record of that, for resumes.jsonl."""
    step = model.num_timesteps
    actors = {actor_step: path for actor_step, path in saved_actors(run_dir).items() if actor_step < step}
    missing = sorted(set(range(cfg.checkpoint_every, step, cfg.checkpoint_every)) - set(actors))
    if missing:
        raise FileNotFoundError(f"{run_dir} has no replay buffer and lacks the actors of steps "
                                f"{', '.join(map(str, missing))} to re-enact it; allowed: a run directory with "
                                f"checkpoint/replay_buffer.pkl, or with every actor before step {step}")
    started = time.time()
    schedule = replay_schedule(make_env(cfg.env), actors, cfg.learning_starts, cfg.seed + step)
    for episode in collect(cfg.env, schedule, step, cfg.seed + step):
        ends = episode.terminations | episode.truncations
        for t, action in enumerate(episode.actions):
            model.replay_buffer.add(episode.observations[t][None], episode.observations[t + 1][None],
                                    model.policy.scale_action(action[None]), episode.rewards[t:t + 1], ends[t:t + 1],
                                    [{"TimeLimit.truncated": bool(episode.truncations[t] and not episode.terminations[t])}])
    return {"step": step, "replay_buffer": "re-enacted", "actors": len(actors), "transitions": model.replay_buffer.size(),
            "wall_s": round(time.time() - started, 1)}


class CheckpointAndEvaluate(BaseCallback):
    def __init__(self, cfg: SACConfig, run_dir: Path):
        super().__init__()
        self.cfg, self.run_dir = cfg, run_dir
        self.eval_env = make_env(cfg.env)
        self.started = time.time()

    def _on_step(self) -> bool:
        step = self.num_timesteps
        if step % self.cfg.checkpoint_every:
            return True
        save_actor(self.model.policy.actor, run_actor(self.run_dir, step), step)
        ckpt = self.run_dir / "checkpoint"
        with atomic_path(ckpt / "replay_buffer.pkl") as tmp:
            self.model.save_replay_buffer(tmp)
        with atomic_path(ckpt / "model.zip") as tmp:  # written last: its step is the resume point
            self.model.save(tmp)
        record = {"step": step}
        for prefix, deterministic in (("", True), ("sampled_", False)):
            self.eval_env.reset(seed=self.cfg.seed + step)
            returns, lengths = evaluate_policy(
                self.model, self.eval_env, n_eval_episodes=self.cfg.eval_episodes,
                deterministic=deterministic, return_episode_rewards=True)
            record |= {f"{prefix}return_mean": float(np.mean(returns)), f"{prefix}return_std": float(np.std(returns)),
                       f"{prefix}normalized": float(normalized_score(self.cfg.env, np.mean(returns))),
                       f"{prefix}length_mean": float(np.mean(lengths))}
        record["wall_s"] = round(time.time() - self.started, 1)
        append_json_line(self.run_dir / "eval.jsonl", record)
        self.logger.record("eval/return", record["return_mean"])
        self.logger.record("eval/normalized_return", record["normalized"])
        self.logger.record("eval/sampled_normalized_return", record["sampled_normalized"])
        print(json.dumps(record), flush=True)
        return True


def train(cfg: SACConfig) -> SAC:
    torch.set_num_threads(cfg.threads)
    run_dir = cfg.run_dir()
    held = hold_run(run_dir)  # noqa: F841  (until train returns: no other process writes this run)
    if (run_dir / "config.json").exists():
        made_with = json.loads((run_dir / "config.json").read_text())
        for field in ("env", "seed", "train_freq", "gradient_steps"):
            made = made_with.get(field, getattr(SACConfig, field))  # runs from before a field existed: its default
            if made != getattr(cfg, field):
                raise ValueError(f"--{field.replace('_', '-')} {getattr(cfg, field)} differs from the run's {made} in "
                                 f"{run_dir}; allowed: the run's own value, or another --out for a new run")
    with atomic_path(run_dir / "config.json") as tmp:
        tmp.write_text(json.dumps(asdict(cfg), indent=2))
    env = make_env(cfg.env)
    ckpt = run_dir / "checkpoint"
    if (ckpt / "model.zip").exists():
        model = SAC.load(ckpt / "model.zip", env=env, tensorboard_log=str(run_dir / "tb"))
        if (ckpt / "replay_buffer.pkl").exists():
            model.load_replay_buffer(ckpt / "replay_buffer.pkl")
        else:
            append_json_line(run_dir / "resumes.jsonl", reenact_replay_buffer(model, cfg, run_dir))
            print(f"{run_dir} had no replay buffer: re-enacted from its saved actors", flush=True)
        print(f"resuming {run_dir} from step {model.num_timesteps}", flush=True)
    else:
        model = SAC("MlpPolicy", env, learning_starts=cfg.learning_starts, seed=cfg.seed, train_freq=cfg.train_freq,
                    gradient_steps=cfg.gradient_steps, tensorboard_log=str(run_dir / "tb"), verbose=0)
    remaining = cfg.total_steps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=CheckpointAndEvaluate(cfg, run_dir),
                    reset_num_timesteps=False, tb_log_name="sac")
    return model


if __name__ == "__main__":
    with expected_errors():
        train(parse_config(SACConfig, __doc__, checks=CHECKS))
