"""D4RL's hdf5 files: where they live, how they are downloaded, and their flat layout, read and written.

A file holds per-transition rows: observations (N, obs_dim), actions (N, act_dim), rewards (N,),
terminals (N,) and timeouts (N,); extra keys (next_observations, infos/*, metadata/*) are ignored.
An episode ends after every row where terminals or timeouts is set. Rule for the tail: rows after
the last such flag (D4RL's files stop at 1M rows, mid-episode) are kept as one more episode whose
terminals are all False, like an episode cut by a timeout.

A file format: flat columns in and out; envs.dataset makes them a `Dataset`.
"""
import os
import urllib.error
import urllib.request
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from envs.specs import DATASETS, ENVS
from suite.runutils import atomic_path

D4RL_URL = "http://rail.eecs.berkeley.edu/datasets/offline_rl/gym_mujoco_v2"
REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")
COLUMNS = ("observations", "actions", "rewards", "terminals")  # what a Dataset is made of


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


def d4rl_path(name: str) -> tuple[str, Path]:
    """The env and the local file of D4RL's `name` ('hopper-medium-v2'), downloaded first when it is not on disk."""
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
    return env, path


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


def read_d4rl_file(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The COLUMNS of a D4RL-layout file (terminals as bool) and its episodes' exclusive end rows."""
    arrays = read_d4rl_arrays(path)
    num_rows = len(arrays["rewards"])
    for key in ("terminals", "timeouts"):
        if arrays[key].shape != (num_rows,):
            raise ValueError(f"{path}: {key} has shape {arrays[key].shape}, needs ({num_rows},) like rewards")
    arrays["terminals"] = arrays["terminals"].astype(bool)
    episode_ends = np.flatnonzero(arrays["terminals"] | arrays["timeouts"].astype(bool)) + 1
    if not len(episode_ends) or episode_ends[-1] != num_rows:
        episode_ends = np.append(episode_ends, num_rows)
    return {key: arrays[key] for key in COLUMNS}, episode_ends


def write_d4rl_file(path: Path, columns: dict[str, np.ndarray], episode_ends: np.ndarray) -> None:
    """Write COLUMNS in D4RL's layout; every episode end that is not a termination is a timeout."""
    timeouts = np.zeros(len(columns["rewards"]), dtype=bool)
    timeouts[np.asarray(episode_ends) - 1] = True
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key in COLUMNS:
            f.create_dataset(key, data=columns[key])
        f.create_dataset("timeouts", data=timeouts & ~columns["terminals"])
