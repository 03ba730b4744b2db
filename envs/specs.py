"""The MuJoCo locomotion environments of the suite, D4RL's dataset names and reference scores.

The bottom of envs/: every other module of the package may import this one, and it imports none of them.
"""
import warnings
from dataclasses import dataclass

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class EnvSpec:
    name: str
    d4rl_id: str  # gymnasium id with the same model as the -v3 env D4RL was recorded on
    minari_id: str  # gymnasium id Minari's mujoco/* datasets were recorded on
    ref_min_score: float  # D4RL's random-policy return
    ref_max_score: float  # D4RL's expert return
    target_returns: tuple[float, ...]  # Decision Transformer's evaluation targets


ENVS = {
    spec.name: spec
    for spec in (
        EnvSpec("hopper", "Hopper-v4", "Hopper-v5", -20.272305, 3234.3, (3600.0, 1800.0)),
        EnvSpec("halfcheetah", "HalfCheetah-v4", "HalfCheetah-v5", -280.178953, 12135.0, (12000.0, 6000.0)),
        EnvSpec("walker2d", "Walker2d-v4", "Walker2d-v5", 1.629008, 4592.3, (5000.0, 2500.0)),
    )
}
DATASETS = ("random", "medium", "medium-replay", "expert", "medium-expert")  # D4RL's, and the suite's own


@dataclass(frozen=True)
class D4RLStats:
    episodes: int
    transitions: int
    mean_normalized: float  # approximate, as commonly reported


# D4RL's v2 datasets (episode counts from the TFDS catalog): the level the suite's own data aims at
D4RL_STATS = {
    "hopper-medium": D4RLStats(2187, 1_000_000, 44.0),
    "hopper-medium-replay": D4RLStats(2041, 402_000, 15.0),
    "hopper-medium-expert": D4RLStats(3214, 2_000_000, 64.0),
    "halfcheetah-medium": D4RLStats(1000, 1_000_000, 41.0),
    "halfcheetah-medium-replay": D4RLStats(202, 202_000, 27.0),
    "halfcheetah-medium-expert": D4RLStats(2000, 2_000_000, 65.0),
    "walker2d-medium": D4RLStats(1191, 1_000_000, 62.0),
    "walker2d-medium-replay": D4RLStats(1093, 302_000, 15.0),
    "walker2d-medium-expert": D4RLStats(2191, 2_000_000, 82.0),
}


def env_spec(name: str) -> EnvSpec:
    if name not in ENVS:
        raise ValueError(f"unknown env {name!r}; valid envs: {', '.join(sorted(ENVS))}")
    return ENVS[name]


def normalized_score(env: str, returns):
    """D4RL-normalized return on the x100 scale: 0 is the random policy, 100 the expert."""
    spec = env_spec(env)
    returns = np.asarray(returns, dtype=np.float64)
    return 100.0 * (returns - spec.ref_min_score) / (spec.ref_max_score - spec.ref_min_score)


def make_env(name: str, **kwargs) -> gym.Env:
    """The gymnasium environment matching D4RL's data for `name` (the -v4 version)."""
    with warnings.catch_warnings():  # -v4 is chosen on purpose: gymnasium's "out of date" is noise here
        warnings.filterwarnings("ignore", message=".*is out of date.*")
        return gym.make(env_spec(name).d4rl_id, **kwargs)
