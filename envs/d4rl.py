"""D4RL's hdf5 files: where they live, how they are downloaded, and how their flat layout is read.

A file holds per-transition rows: observations (N, obs_dim), actions (N, act_dim), rewards (N,),
terminals (N,) and timeouts (N,); extra keys (next_observations, infos/*, metadata/*) are ignored.
An episode ends after every row where terminals or timeouts is set. Rule for the tail: rows after
the last such flag (D4RL's files stop at 1M rows, mid-episode) are kept as one more episode whose
terminals are all False, like an episode cut by a timeout.
"""
import os
import urllib.error
import urllib.request
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from envs.dataset import DATASETS, Dataset, split_flat
from envs.specs import ENVS
from runutils import atomic_path

D4RL_URL = "http://rail.eecs.berkeley.edu/datasets/offline_rl/gym_mujoco_v2"
REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")


def d4rl_dir() -> Path:
    """Where D4RL files are looked for: $D4RL_DATASET_DIR, else d4rl's own ~/.d4rl/datasets."""
    return Path(os.environ.get("D4RL_DATASET_DIR") or Path.home() / ".d4rl" / "datasets")


def d4rl_filename(name: str) -> tuple[str, str]:
    """'hopper-medium-replay-v2' -> ('hopper', 'hopper_medium_replay-v2.hdf5')."""
    stem, _, version = name.rpartition("-")
    env, _, dataset = stem.partition("-")
    if env not in ENVS or dataset not in DATASETS:
        raise ValueError(f"unknown D4RL dataset {name!r}: D4RL's are '<env>-<dataset>-v2' with env in "
                         f"{', '.join(sorted(ENVS))} and dataset in {', '.join(DATASETS)}")
    if version != "v2":
        raise ValueError(f"D4RL dataset {name!r}: only the -v2 MuJoCo files are supported (e.g. {stem}-v2)")
    return env, f"{env}_{dataset.replace('-', '_')}-v2.hdf5"


def download(url: str, path: Path) -> None:
    """Fetch `url` into `path` through a temporary name, so an interrupted download leaves nothing at `path`."""
    with urllib.request.urlopen(url, timeout=30) as response, atomic_path(path) as tmp:
        size = int(response.headers.get("Content-Length", 0)) or None
        with open(tmp, "wb") as f, tqdm(total=size, unit="B", unit_scale=True, desc=path.name) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))
        if size is not None and tmp.stat().st_size != size:
            raise OSError(f"download of {url} stopped at {tmp.stat().st_size} of {size} bytes")


def load_d4rl(name: str) -> Dataset:
    """Load D4RL's file for `name` ('hopper-medium-v2'), downloading it first when it is not on disk."""
    env, filename = d4rl_filename(name)
    path = d4rl_dir() / filename
    if not path.exists():
        url = f"{os.environ.get('D4RL_URL', D4RL_URL)}/{filename}"
        try:
            download(url, path)
        except (OSError, urllib.error.URLError) as err:
            raise FileNotFoundError(
                f"D4RL file {path} is missing and downloading it from {url} failed ({err}). "
                f"Download it on a machine with network and put it at {path} "
                f"(or in the directory named by D4RL_DATASET_DIR)") from err
    return load_d4rl_file(path, env=env, name=f"d4rl:{name}")


def read_d4rl_arrays(path: Path) -> dict[str, np.ndarray]:
    """The required columns of a D4RL-layout file, naming the file when it is missing, cut short or corrupt."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}; expected a dataset in D4RL's hdf5 layout there")
    try:
        with h5py.File(path, "r") as f:
            missing = [key for key in REQUIRED_KEYS if key not in f]
            if missing:
                raise ValueError(f"{path} is not in D4RL's layout: it lacks {', '.join(missing)} "
                                 f"(needs {', '.join(REQUIRED_KEYS)})")
            return {key: f[key][()] for key in REQUIRED_KEYS}
    except OSError as err:
        raise OSError(f"cannot read {path}: truncated or corrupt hdf5 file ({err}); "
                      f"delete it and download or generate it again") from err


def load_d4rl_file(path: Path, env: str, name: str) -> Dataset:
    """A `Dataset` from any file in D4RL's layout, recorded on `env`."""
    arrays = read_d4rl_arrays(path)
    num_rows = len(arrays["rewards"])
    for key in ("terminals", "timeouts"):
        if arrays[key].shape != (num_rows,):
            raise ValueError(f"{path}: {key} has shape {arrays[key].shape}, needs ({num_rows},) like rewards")
    terminals = arrays["terminals"].astype(bool)
    episode_ends = np.flatnonzero(terminals | arrays["timeouts"].astype(bool)) + 1
    if not len(episode_ends) or episode_ends[-1] != num_rows:
        episode_ends = np.append(episode_ends, num_rows)
    return split_flat(env, name, arrays["observations"], arrays["actions"], arrays["rewards"],
                      terminals, episode_ends)


def write_d4rl_file(path: Path, dataset: Dataset) -> None:
    """Write `dataset` in D4RL's layout; every episode end that is not a termination is a timeout."""
    timeouts = [np.arange(len(ep.rewards)) == len(ep.rewards) - 1 for ep in dataset.episodes]
    columns = {
        "observations": np.concatenate([ep.observations for ep in dataset.episodes]),
        "actions": np.concatenate([ep.actions for ep in dataset.episodes]),
        "rewards": np.concatenate([ep.rewards for ep in dataset.episodes]),
        "terminals": np.concatenate([ep.terminals for ep in dataset.episodes]),
        "timeouts": np.concatenate(timeouts) & ~np.concatenate([ep.terminals for ep in dataset.episodes]),
    }
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, values in columns.items():
            f.create_dataset(key, data=values)
