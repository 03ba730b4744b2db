"""Minari datasets: reading any of them, and writing one from episode buffers, all or nothing.

A file format: flat columns out (as envs.d4rl gives them), Minari episode buffers in; envs.dataset
makes a `Dataset` of them.

The suite keeps its own datasets in the namespace NAMESPACE, each with FAST_COPY beside its Minari
`data/`: the same transitions in D4RL's flat layout. Minari keeps one hdf5 group per episode and reads
hopper-random's 50k episodes in about 30 s, the flat copy in well under a second (envs.load reads
it; `minari.load_dataset` ignores it).
"""
import contextlib
import os
import shutil
from pathlib import Path

import numpy as np

from envs.specs import ENVS

NAMESPACE = "minrnn"
FAST_COPY = "d4rl_layout.hdf5"


def minari_root() -> Path:
    return Path(os.environ.get("MINARI_DATASETS_PATH") or Path.home() / ".minari" / "datasets")


@contextlib.contextmanager
def minari_root_at(path: Path):
    """Point Minari (which reads MINARI_DATASETS_PATH on every call) at `path` for the block."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def suite_dataset_id(env: str, dataset: str, seed: int, version: int) -> str:
    """The Minari id of a suite dataset; `version` is the data version of the policies it is built from."""
    return f"{NAMESPACE}/{env}/{dataset}{f'-seed{seed}' if seed else ''}-v{version}"


def generation_lock(dataset_id: str) -> Path:
    """The directory whose lock a process holds while it generates `dataset_id`: one per dataset, so that
    a slow generation (a niced sweep's) holds up no other dataset, nor a request that ends in an error;
    hidden, as Minari's listing skips hidden directories."""
    path = minari_root() / dataset_id
    return path.parent / f".{path.name}.lock"


def refuse_to_overwrite(dataset_id: str, overwrite: bool) -> None:
    """FileExistsError if the dataset `dataset_id` exists and `overwrite` is not set."""
    if (minari_root() / dataset_id).exists() and not overwrite:
        raise FileExistsError(f"{minari_root() / dataset_id} exists; delete it "
                              f"(minari.delete_dataset({dataset_id!r})) or pass --overwrite")


def env_for_gym_id(gym_id: str) -> str:
    """The suite env whose -v4 or -v5 gymnasium id is `gym_id` ('Hopper-v5' -> 'hopper')."""
    for spec in ENVS.values():
        if gym_id in (spec.d4rl_id, spec.minari_id):
            return spec.name
    raise ValueError(f"recorded on {gym_id!r}, which is none of the suite's envs "
                     f"({', '.join(s.d4rl_id + '/' + s.minari_id for s in ENVS.values())}); pass env=")


def flatten_episodes(name: str, episodes) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Minari-style episodes (observations with one more row than the rest) as flat columns and
    their exclusive end rows; each episode's last observation is dropped."""
    episodes = list(episodes)
    for index, ep in enumerate(episodes):
        if not isinstance(ep.observations, np.ndarray) or len(ep.observations) != len(ep.rewards) + 1:
            raise ValueError(f"{name}: episode {index}: observations must be an array with one row more "
                             f"than rewards ({len(ep.rewards)}), got {getattr(ep.observations, 'shape', type(ep.observations))}")
    columns = {"observations": np.concatenate([ep.observations[:-1] for ep in episodes]),
               "actions": np.concatenate([ep.actions for ep in episodes]),
               "rewards": np.concatenate([ep.rewards for ep in episodes]),
               "terminals": np.concatenate([ep.terminations for ep in episodes])}
    return columns, np.cumsum([len(ep.rewards) for ep in episodes])


def read_minari(dataset_id: str, download: bool = False) -> tuple[str, dict[str, np.ndarray], np.ndarray]:
    """The gymnasium id a Minari dataset was recorded on ("no env" when it records none), its flat
    columns and its episodes' end rows."""
    import minari

    try:
        minari_dataset = minari.load_dataset(dataset_id, download=download)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"Minari dataset {dataset_id!r} is not under {minari_root()}; fetch it with "
                                f"`minari download {dataset_id}` or pass download=True ({err})") from err
    recorded_on = minari_dataset.spec.env_spec
    try:
        columns, episode_ends = flatten_episodes(f"minari:{dataset_id}", minari_dataset.iterate_episodes())
    except OSError as err:
        raise OSError(f"cannot read Minari dataset {dataset_id!r} in {minari_dataset.storage.data_path}: "
                      f"truncated or corrupt ({err})") from err
    return recorded_on.id if recorded_on else "no env", columns, episode_ends


def read_metadata(dataset_id: str) -> dict:
    """The metadata of a local Minari dataset, read without loading its episodes."""
    from minari.dataset.minari_storage import MinariStorage

    return MinariStorage.read_raw_metadata(minari_root() / dataset_id / "data")


def write_minari(dataset_id: str, buffers: list, env_id: str, ref_scores: tuple[float, float], description: str,
                 metadata: dict, overwrite: bool = False, extra_files=None) -> None:
    """Write Minari episode buffers as the dataset `dataset_id` (recorded on gymnasium's `env_id`, with
    D4RL's (min, max) reference scores and `metadata`), all or nothing.

    It is built in a hidden scratch root (Minari skips hidden directories) and moved into place only
    when whole; `extra_files(directory)`, when given, writes files of the caller's beside Minari's
    `data/` before the move.
    """
    import minari
    from minari.namespace import create_namespace, list_local_namespaces

    root = minari_root()
    final = root / dataset_id
    refuse_to_overwrite(dataset_id, overwrite)
    scratch = root / f".{NAMESPACE}-tmp{os.getpid()}"
    try:
        with minari_root_at(scratch):
            created = minari.create_dataset_from_buffers(
                dataset_id, buffers, env=env_id, eval_env=env_id,
                algorithm_name="D4RL recipe (uniform random or SAC behaviour policies)",
                ref_min_score=ref_scores[0], ref_max_score=ref_scores[1], description=description)
            created.storage.update_metadata(metadata)
        if extra_files is not None:
            extra_files(scratch / dataset_id)
        namespace = dataset_id.rpartition("/")[0]
        with minari_root_at(root):
            if namespace not in list_local_namespaces():
                create_namespace(namespace)
        if final.exists():
            shutil.rmtree(final)
        os.replace(scratch / dataset_id, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
