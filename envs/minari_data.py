"""Minari datasets: reading any of them, and writing the suite's own as `minrnn/<env>/<dataset>-v0`.

Beside each suite dataset's Minari `data/` directory lies FAST_COPY, the same transitions in D4RL's
flat layout: Minari keeps one hdf5 group per episode and reads hopper-random's 50k episodes in
about 30 s, the flat copy in well under a second. `minari.load_dataset` ignores it.
"""
import contextlib
import os
import shutil
from pathlib import Path

import numpy as np

from envs.d4rl import load_d4rl_file, write_d4rl_file
from envs.dataset import Dataset, split_flat
from envs.specs import ENVS, env_spec

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


def suite_dataset_id(env: str, dataset: str, seed: int) -> str:
    return f"{NAMESPACE}/{env}/{dataset}{f'-seed{seed}' if seed else ''}-v0"


def env_for_gym_id(gym_id: str) -> str:
    """The suite env whose -v4 or -v5 gymnasium id is `gym_id` ('Hopper-v5' -> 'hopper')."""
    for spec in ENVS.values():
        if gym_id in (spec.d4rl_id, spec.minari_id):
            return spec.name
    raise ValueError(f"recorded on {gym_id!r}, which is none of the suite's envs "
                     f"({', '.join(s.d4rl_id + '/' + s.minari_id for s in ENVS.values())}); pass env=")


def split_minari_episodes(env: str, name: str, episodes) -> Dataset:
    """A `Dataset` from Minari-style episodes (observations with one more row than the rest)."""
    episodes = list(episodes)
    for index, ep in enumerate(episodes):
        if not isinstance(ep.observations, np.ndarray) or len(ep.observations) != len(ep.rewards) + 1:
            raise ValueError(f"{name}: episode {index}: observations must be an array with one row more "
                             f"than rewards ({len(ep.rewards)}), got {getattr(ep.observations, 'shape', type(ep.observations))}")
    return split_flat(env, name,
                      np.concatenate([ep.observations[:-1] for ep in episodes]),
                      np.concatenate([ep.actions for ep in episodes]),
                      np.concatenate([ep.rewards for ep in episodes]),
                      np.concatenate([ep.terminations for ep in episodes]),
                      np.cumsum([len(ep.rewards) for ep in episodes]))


def load_minari(dataset_id: str, env: str | None = None, download: bool = False) -> Dataset:
    import minari

    try:
        minari_dataset = minari.load_dataset(dataset_id, download=download)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"Minari dataset {dataset_id!r} is not under {minari_root()}; fetch it with "
                                f"`minari download {dataset_id}` or pass download=True ({err})") from err
    recorded_on = minari_dataset.spec.env_spec
    env = env or env_for_gym_id(recorded_on.id if recorded_on else "no env")
    try:
        return split_minari_episodes(env, f"minari:{dataset_id}", minari_dataset.iterate_episodes())
    except OSError as err:
        raise OSError(f"cannot read Minari dataset {dataset_id!r} in {minari_dataset.storage.data_path}: "
                      f"truncated or corrupt ({err})") from err


def built_from_other_policies(path: Path, env: str, dataset: str) -> bool:
    """Whether the cached suite dataset at `path` was built from shipped policies other than those
    envs/policies/<env> holds now (a new export since). Datasets built from a policies directory of
    the user's own (`generate --policies`) are theirs to manage and count as current."""
    from minari.dataset.minari_storage import MinariStorage

    from envs.generate import policies_used  # here: envs.generate imports this module
    from envs.policies import load_manifest

    recipe = MinariStorage.read_raw_metadata(path / "data").get(NAMESPACE, {})
    if dataset == "random" or recipe.get("policies"):
        return False
    used = policies_used(load_manifest(env)[0], dataset)
    changed = sorted(key for key, value in used.items() if recipe.get(key) != value)
    if changed:
        print(f"{path} was built from other shipped policies than envs/policies/{env} holds now "
              f"({', '.join(changed)} differ): generating it again", flush=True)
    return bool(changed)


def load_suite_dataset(env: str, dataset: str, seed: int = 0) -> Dataset:
    """The suite's own `<env>-<dataset>`, generated (with the shipped policies) the first time it is
    asked for, and again when the shipped policies have changed since.

    A freshly generated dataset is read back from disk like a cached one, so that a run on it is
    the same run either way.
    """
    path = minari_root() / suite_dataset_id(env, dataset, seed)
    cached = (path / "data").exists()
    if not cached or built_from_other_policies(path, env, dataset):
        from envs.generate import GenerateConfig, generate

        generate(GenerateConfig(env=env, dataset=dataset, seed=seed, overwrite=cached))
    if (path / FAST_COPY).exists():
        return load_d4rl_file(path / FAST_COPY, env=env, name=f"{env}-{dataset}")
    loaded = load_minari(suite_dataset_id(env, dataset, seed), env=env)
    return Dataset(env, f"{env}-{dataset}", loaded.episodes)


def write_suite_dataset(dataset_id: str, env: str, name: str, buffers: list, description: str,
                        recipe: dict, overwrite: bool = False) -> Dataset:
    """Write Minari episode buffers as Minari dataset `dataset_id` plus its FAST_COPY, all or nothing.

    Both are built in a hidden scratch root (Minari skips hidden directories) and moved into place
    only when whole. `recipe` is stored in the Minari metadata under "minrnn".
    """
    import minari
    from minari.namespace import create_namespace, list_local_namespaces

    root = minari_root()
    final = root / dataset_id
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} exists; delete it (minari.delete_dataset({dataset_id!r})) or pass --overwrite")
    dataset = split_minari_episodes(env, name, buffers)
    scratch = root / f".{NAMESPACE}-tmp{os.getpid()}"
    try:
        with minari_root_at(scratch):
            created = minari.create_dataset_from_buffers(
                dataset_id, buffers, env=env_spec(env).d4rl_id, eval_env=env_spec(env).d4rl_id,
                algorithm_name="D4RL recipe (uniform random or SAC behaviour policies)",
                ref_min_score=env_spec(env).ref_min_score, ref_max_score=env_spec(env).ref_max_score,
                description=description)
            created.storage.update_metadata({"minrnn": recipe})
        write_d4rl_file(scratch / dataset_id / FAST_COPY, dataset)
        namespace = dataset_id.rpartition("/")[0]
        with minari_root_at(root):
            if namespace not in list_local_namespaces():
                create_namespace(namespace)
        if final.exists():
            shutil.rmtree(final)
        os.replace(scratch / dataset_id, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dataset
