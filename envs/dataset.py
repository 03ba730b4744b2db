"""The trajectory structure every dataset source loads into, and the loaders of the files that hold one.

Above the file formats (envs.d4rl, envs.minari_data: flat columns), below generation (envs.generate)
and `load_dataset` (envs.load), the one entry point by name.
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.d4rl import COLUMNS, d4rl_path, read_d4rl_file
from envs.minari_data import env_for_gym_id, flatten_episodes, read_minari
from envs.specs import env_spec, make_env, normalized_score


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
    version_id: str = ""  # the id with its version (minrnn/hopper/medium-v1); default: the name, which has it

    def __post_init__(self):
        self.version_id = self.version_id or self.name

    def identity(self) -> dict:
        """What a run records of its data: the versioned id and a hash of the transitions."""
        digest = hashlib.sha256()
        columns, episode_ends = self.flat()
        for values in [*columns.values(), episode_ends]:
            digest.update(np.ascontiguousarray(values).tobytes())
        return {"id": self.version_id, "sha256": digest.hexdigest()}

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

    def flat(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The episodes as flat columns (envs.d4rl.COLUMNS) and their exclusive end rows, as a file holds them."""
        columns = {key: np.concatenate([getattr(ep, key) for ep in self.episodes]) for key in COLUMNS}
        return columns, np.cumsum([len(ep.rewards) for ep in self.episodes])


def split_flat(env: str, name: str, columns: dict, episode_ends) -> Dataset:
    """Check flat per-transition columns (envs.d4rl.COLUMNS) against `env` and cut them into episodes.

    `episode_ends` are the exclusive end rows of the episodes, the last one equal to the row count.
    Every source goes through here, so every dataset is checked the same way.
    """
    gym_env = make_env(env)
    fields = {
        "observations": (np.asarray(columns["observations"], dtype=np.float32), gym_env.observation_space.shape),
        "actions": (np.asarray(columns["actions"], dtype=np.float32), gym_env.action_space.shape),
        "rewards": (np.asarray(columns["rewards"], dtype=np.float32), ()),
        "terminals": (np.asarray(columns["terminals"], dtype=bool), ()),
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


def load_d4rl(name: str) -> Dataset:
    """D4RL's file for `name` ('hopper-medium-v2'), downloaded first when it is not on disk."""
    env, path = d4rl_path(name)
    return load_d4rl_file(path, env=env, name=f"d4rl:{name}")


def load_d4rl_file(path: Path, env: str, name: str) -> Dataset:
    """Any file in D4RL's layout, recorded on `env`."""
    return split_flat(env, name, *read_d4rl_file(path))


def load_minari(dataset_id: str, env: str | None = None, download: bool = False) -> Dataset:
    """A Minari dataset, on the env it records unless `env` is given."""
    recorded_on, columns, episode_ends = read_minari(dataset_id, download)
    return split_flat(env or env_for_gym_id(recorded_on), f"minari:{dataset_id}", columns, episode_ends)


def from_minari_episodes(env: str, name: str, episodes) -> Dataset:
    """A `Dataset` from Minari-style episodes or episode buffers (observations with one more row)."""
    return split_flat(env, name, *flatten_episodes(name, episodes))
