"""Evaluate a decision agent in the simulator: many episodes at once in a gymnasium vector env, the
return-to-go dropping by each reward."""
import time

import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import RecordVideo

from agents.decision import DecisionAgent
from agents.policy import DecisionPolicy
from envs import make_env, normalized_score


def _make_env_fn(env: str, video_dir: str | None, video_size: int, env_kwargs: dict):
    def make():
        if video_dir is None:
            return make_env(env, **env_kwargs)
        recorded = make_env(env, render_mode="rgb_array", width=video_size, height=video_size,
                            camera_name="track", **env_kwargs)  # the model's camera that follows the body
        return RecordVideo(recorded, video_dir, episode_trigger=lambda episode: episode == 0,
                           name_prefix=f"{env}-rollout")
    return make


def rollout(agent: DecisionAgent, env: str, episodes: int, target_return: float, num_envs: int = 10,
            seed: int = 0, video_dir: str | None = None, video_size: int = 240, **env_kwargs) -> dict:
    """Run `episodes` episodes conditioned on `target_return`, the return-to-go dropping by each reward.

    The episodes are split evenly over min(num_envs, episodes) envs, so short episodes are not
    favoured. With `video_dir`, the first env's first episode is written there as mp4.
    `env_kwargs` go to the env's constructor (gymnasium.make).
    """
    num_envs = min(num_envs, episodes)
    quota = np.array([episodes // num_envs + (i < episodes % num_envs) for i in range(num_envs)])
    env_fns = [_make_env_fn(env, video_dir if i == 0 else None, video_size, env_kwargs) for i in range(num_envs)]
    vec_env = SyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
    policy = DecisionPolicy(agent, env, target_return)
    obs, _ = vec_env.reset(seed=seed)
    state, reward, done = None, np.zeros(num_envs), np.ones(num_envs, dtype=bool)
    returns, lengths = [], []
    started, sim_steps = time.perf_counter(), 0
    try:
        while quota.any():
            action, state = policy.predict({"observation": obs, "reward": reward}, state, episode_start=done)
            obs, reward, terminated, truncated, _ = vec_env.step(action)
            sim_steps += num_envs
            done = terminated | truncated
            for i in np.flatnonzero(done & (quota > 0)):
                returns.append(state.episode_return[i] + reward[i])
                lengths.append(int(state.t[i]) + 1)
                quota[i] -= 1
    finally:
        vec_env.close()
    returns = np.array(returns)
    normalized = normalized_score(env, returns)
    return {"target_return": target_return, "episodes": len(returns),
            "return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "normalized_mean": float(normalized.mean()), "normalized_std": float(normalized.std()),
            "length_mean": float(np.mean(lengths)), "returns": returns.tolist(),
            "env_steps_per_s": sim_steps / (time.perf_counter() - started)}
