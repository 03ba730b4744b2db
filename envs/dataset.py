"""The trajectory structure every dataset source loads into, and `load_dataset`, the one entry point.

    load_dataset("d4rl:hopper-medium-v2")            D4RL's hdf5 file (downloaded when missing)
    load_dataset("path/to/file.hdf5", env="hopper")  any file in D4RL's layout
    load_dataset("minari:mujoco/hopper/medium-v0")   a Minari dataset (download=True to fetch it)
    load_dataset("hopper-medium")                    the suite's own D4RL-recipe data, generated on first use
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.specs import ENVS, env_spec, make_env, normalized_score

DATASETS = ("random", "medium", "medium-replay", "expert", "medium-expert")


@dataclass
class Episode:
    observations: np.ndarray  # (T, obs_dim) float32, the observation each action was taken in
    actions: np.ndarray  # (T, act_dim) float32
    rewards: np.ndarray  # (T,) float32
    terminals: np.ndarray  # (T,) bool, True only at a real termination (not a timeout)


@dataclass
class Dataset:
    env: str  # key of envs.specs.ENVS, e.g. "hopper"
    name: str  # e.g. "d4rl:hopper-medium-v2" or "hopper-medium"
    episodes: list[Episode]

    @property
    def num_transitions(self) -> int:
        return sum(len(ep.rewards) for ep in self.episodes)

    def episode_returns(self) -> np.ndarray:
        return np.array([ep.rewards.sum(dtype=np.float64) for ep in self.episodes])

    def normalized_returns(self) -> np.ndarray:
        return normalized_score(self.env, self.episode_returns())

    def obs_mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        observations = np.concatenate([ep.observations for ep in self.episodes])
        mean = observations.mean(0, dtype=np.float64)
        std = np.maximum(observations.std(0, dtype=np.float64), 1e-6)
        return mean.astype(np.float32), std.astype(np.float32)


def split_flat(env: str, name: str, observations, actions, rewards, terminals,
               episode_ends) -> Dataset:
    """Check flat per-transition arrays against `env` and cut them into episodes.

    `episode_ends` are the exclusive end rows of the episodes, the last one equal to the row count.
    Every source goes through here, so every dataset is checked the same way.
    """
    gym_env = make_env(env)
    fields = {
        "observations": (np.asarray(observations, dtype=np.float32), gym_env.observation_space.shape),
        "actions": (np.asarray(actions, dtype=np.float32), gym_env.action_space.shape),
        "rewards": (np.asarray(rewards, dtype=np.float32), ()),
        "terminals": (np.asarray(terminals, dtype=bool), ()),
    }
    num_rows = len(fields["rewards"][0])
    for field, (values, row_shape) in fields.items():
        if values.shape != (num_rows, *row_shape):
            raise ValueError(f"{name}: {field} has shape {values.shape}, but {env} "
                             f"({env_spec(env).d4rl_id}) needs shape {(num_rows, *row_shape)}")
        if values.dtype != bool and not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values.reshape(num_rows, -1)).all(1))[0])
            raise ValueError(f"{name}: {field} has NaN or infinite values (first at row {row})")
    episode_ends = np.asarray(episode_ends, dtype=np.int64)
    if num_rows == 0 or episode_ends[-1] != num_rows:
        raise ValueError(f"{name}: holds no transitions" if num_rows == 0 else
                         f"{name}: episode ends stop at row {episode_ends[-1]}, not at the last row {num_rows}")
    columns = [np.split(fields[field][0], episode_ends[:-1]) for field in fields]
    return Dataset(env, name, [Episode(*parts) for parts in zip(*columns)])


def parse_suite_name(name: str) -> tuple[str, str]:
    """'hopper-medium-replay' -> ('hopper', 'medium-replay'), naming the whole name and the valid
    choices otherwise (a dataset alone, 'medium-replayy', would split into an env 'medium')."""
    env, _, dataset = name.partition("-")
    if env not in ENVS or dataset not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: the suite's are '<env>-<dataset>' with env in "
                         f"{', '.join(sorted(ENVS))} and dataset in {', '.join(DATASETS)}")
    return env, dataset


def load_dataset(name: str, env: str | None = None, download: bool = False, seed: int = 0) -> Dataset:
    """Load any supported source into a `Dataset` (see the module docstring for the name forms).

    `env` is needed for a plain file and may override the env Minari records; `download` lets Minari
    fetch a dataset that is not local; `seed` picks which generated copy of a suite dataset to use.
    """
    from envs import d4rl, minari_data  # here, not at the top: both import this module

    if name.startswith("d4rl:"):
        return d4rl.load_d4rl(name.removeprefix("d4rl:"))
    if name.startswith("minari:"):
        return minari_data.load_minari(name.removeprefix("minari:"), env=env, download=download)
    if name.endswith((".hdf5", ".h5")) or Path(name).is_file():
        if env is None:
            raise ValueError(f"load_dataset({name!r}) needs env=, one of: {', '.join(sorted(ENVS))}")
        return d4rl.load_d4rl_file(Path(name), env=env, name=name)
    if "-" in name:
        return minari_data.load_suite_dataset(*parse_suite_name(name), seed=seed)
    raise ValueError(
        f"cannot tell what {name!r} is; use 'd4rl:<env>-<dataset>-v2', 'minari:<dataset id>', "
        f"a path to a .hdf5 file with env=, or '<env>-<dataset>' with env in {', '.join(sorted(ENVS))} "
        f"and dataset in {', '.join(DATASETS)}")
