"""Collect behaviour data: SAC actors (or uniform random actions) rolled out in gymnasium vector envs, one
batched policy call per vector step, as D4RL's recipe collects its datasets."""
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from minari.data_collector import EpisodeBuffer

from envs.specs import make_env
from envs.policies.actors import load_actor


class UniformRandomPolicy:
    def __init__(self, action_space: gym.spaces.Box, rng: np.random.Generator):
        self.action_space, self.rng = action_space, rng

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        low, high = self.action_space.low, self.action_space.high
        return self.rng.uniform(low, high, size=(len(observations), *low.shape)).astype(np.float32)


class SACActorPolicy:
    """A saved SAC actor acting on a batch: tanh-squashed Gaussian samples, as SAC collects, or the mean."""

    def __init__(self, path, env: gym.Env, generator: torch.Generator, deterministic: bool = False):
        self.policy = load_actor(path, env)
        self.generator, self.deterministic = generator, deterministic

    @torch.no_grad()
    def __call__(self, observations: np.ndarray) -> np.ndarray:
        mean, log_std, _ = self.policy.actor.get_action_dist_params(torch.as_tensor(observations, dtype=torch.float32))
        if not self.deterministic:
            mean = mean + log_std.exp() * torch.randn(mean.shape, generator=self.generator)
        return self.policy.unscale_action(torch.tanh(mean).numpy())


def replay_schedule(gym_env: gym.Env, actors: dict[int, Path], learning_starts: int, seed: int,
                    deterministic: bool = False) -> list:
    """The `collect` schedule that re-enacts a SAC run's replay buffer: uniform random actions for the run's
    first `learning_starts` transitions, then from each saved actor's step on (`actors`: step -> file), that actor."""
    random_policy = UniformRandomPolicy(gym_env.action_space, np.random.default_rng(seed))
    generator = torch.Generator().manual_seed(seed)
    return [(0, random_policy)] + [(max(step, learning_starts), SACActorPolicy(path, gym_env, generator, deterministic))
                                   for step, path in sorted(actors.items())]


class OpenEpisode:
    def __init__(self, first_observation: np.ndarray):
        self.observations, self.actions, self.rewards, self.terminations = [first_observation], [], [], []

    def to_buffer(self, truncated: bool) -> EpisodeBuffer:
        """`truncated`: the episode ended without a termination (time limit, or cut at the budget)."""
        length = len(self.rewards)
        return EpisodeBuffer(observations=np.array(self.observations, dtype=np.float32),
                             actions=np.array(self.actions, dtype=np.float32),
                             rewards=np.array(self.rewards, dtype=np.float32),
                             terminations=np.array(self.terminations, dtype=bool),
                             truncations=np.arange(length) == length - 1 if truncated else np.zeros(length, bool))


def make_vector_env(env: str, num_envs: int, vectorization: str) -> gym.vector.VectorEnv:
    """`vectorization` 'async' steps each env in its own process, 'sync' all in this one."""
    vector_classes = {"sync": gym.vector.SyncVectorEnv, "async": gym.vector.AsyncVectorEnv}
    if vectorization not in vector_classes:
        raise ValueError(f"unknown vectorization {vectorization!r}; valid: {', '.join(vector_classes)}")
    return vector_classes[vectorization]([partial(make_env, env)] * num_envs,
                                         autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def collect(env: str, schedule: list, num_transitions: int, seed: int, num_envs: int = 16,
            vectorization: str = "sync") -> list[EpisodeBuffer]:
    """Exactly `num_transitions` transitions as Minari episode buffers, in the order episodes end.

    `schedule` is a list of (first transition, policy) in order: the policy acting at a vector step
    is the last one whose first transition is at or before the transitions collected so far. The env
    copies are seeded seed, seed+1, ...; the episodes still running at the budget are kept, cut off
    (truncated). The result depends on seed and num_envs only, not on the vectorization.
    """
    vector_env = make_vector_env(env, num_envs, vectorization)
    finished = []
    try:
        observations, _ = vector_env.reset(seed=seed)
        running = [OpenEpisode(obs) for obs in observations]
        collected = 0
        while collected < num_transitions:
            policy = [policy for start, policy in schedule if start <= collected][-1]
            actions = policy(observations)
            observations, rewards, terminations, truncations, infos = vector_env.step(actions)
            for i in range(min(num_envs, num_transitions - collected)):
                episode = running[i]
                episode.actions.append(actions[i])
                episode.rewards.append(rewards[i])
                episode.terminations.append(terminations[i])
                if terminations[i] or truncations[i]:
                    episode.observations.append(infos["final_obs"][i])
                    finished.append(episode.to_buffer(truncated=not terminations[i]))
                    running[i] = OpenEpisode(observations[i])
                else:
                    episode.observations.append(observations[i])
            collected += min(num_envs, num_transitions - collected)
    finally:
        vector_env.close()
    return finished + [episode.to_buffer(truncated=True) for episode in running if episode.rewards]
