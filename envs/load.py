"""`load_dataset`, the one entry point: any dataset by name, the suite's own generated on first use.

    load_dataset("d4rl:hopper-medium-v2")            D4RL's hdf5 file (downloaded when missing)
    load_dataset("path/to/file.hdf5", env="hopper")  any file in D4RL's layout
    load_dataset("minari:mujoco/hopper/medium-v0")   a Minari dataset (download=True to fetch it)
    load_dataset("hopper-medium")                    the suite's own D4RL-recipe data, generated on first use

The top of envs/: it reads through envs.dataset and generates through envs.generate.
"""
from pathlib import Path

from envs.dataset import Dataset, load_d4rl, load_d4rl_file, load_minari
from envs.minari_data import FAST_COPY, NAMESPACE, generation_lock, minari_root, read_metadata, suite_dataset_id
from envs.policies import data_version, load_manifest, policies_used
from envs.specs import DATASETS, ENVS
from suite.runutils import exclusive_lock


def parse_suite_name(name: str) -> tuple[str, str]:
    """'hopper-medium-replay' -> ('hopper', 'medium-replay'), naming the whole name and the valid
    choices otherwise (a dataset alone, 'medium-replayy', would split into an env 'medium')."""
    env, _, dataset = name.partition("-")
    if env not in ENVS or dataset not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: the suite's are '<env>-<dataset>' with env in "
                         f"{', '.join(sorted(ENVS))} and dataset in {', '.join(DATASETS)}")
    return env, dataset


def built_from_other_policies(dataset_id: str, env: str, dataset: str) -> bool:
    """Whether the cached suite dataset `dataset_id` was built from shipped policies other than those
    envs/policies/<env> holds now (a new export since). Datasets built from a policies directory of
    the user's own (`generate --policies`) are theirs to manage and count as current."""
    recipe = read_metadata(dataset_id).get(NAMESPACE, {})
    if dataset == "random" or recipe.get("policies"):
        return False
    used = policies_used(load_manifest(env)[0], dataset)
    changed = sorted(key for key, value in used.items() if recipe.get(key) != value)
    if changed:
        print(f"{minari_root() / dataset_id} was built from other shipped policies than envs/policies/{env} "
              f"holds now ({', '.join(changed)} differ): generating it again", flush=True)
    return bool(changed)


def data_id(env: str, dataset: str, seed: int = 0, version: int | None = None) -> str:
    """What `--env env --dataset dataset` trains on, by versioned id. A suite dataset: its Minari id,
    whose version is by default that of the shipped policies now (their manifest's data_version), so
    a new export makes new datasets beside the old (cells recorded before data versions: version 0).
    Any other name (d4rl:..., minari:..., a file) carries its own version: the name itself."""
    if dataset not in DATASETS:
        return dataset
    return suite_dataset_id(env, dataset, seed, data_version(env, dataset) if version is None else version)


def recorded_data_id(env: str, dataset: str, recorded: dict | None) -> str:
    """The id of the data a result recorded (`Dataset.identity()`); results recorded before data
    versions (None) trained on version 0."""
    return recorded["id"] if recorded else data_id(env, dataset, version=0)


def load_suite_dataset(env: str, dataset: str, seed: int = 0) -> Dataset:
    """The suite's own `<env>-<dataset>`, generated (with the shipped policies) the first time it is
    asked for, and again when the shipped policies have changed since without a new data version.

    A freshly generated dataset is read back from disk like a cached one, so that a run on it is
    the same run either way.
    """
    dataset_id = data_id(env, dataset, seed)
    path = minari_root() / dataset_id

    def to_generate() -> bool:
        return not (path / "data").exists() or built_from_other_policies(dataset_id, env, dataset)

    if to_generate():
        # imported here: generation brings in Stable-Baselines3, which reading a dataset does not need
        from envs.generate import GenerateConfig, generate

        with exclusive_lock(generation_lock(dataset_id)):  # processes asking at once: one generates, the rest read
            if to_generate():
                generate(GenerateConfig(env=env, dataset=dataset, seed=seed, overwrite=(path / "data").exists()))
    if (path / FAST_COPY).exists():
        episodes = load_d4rl_file(path / FAST_COPY, env=env, name=f"{env}-{dataset}").episodes
    else:
        episodes = load_minari(dataset_id, env=env).episodes
    return Dataset(env, f"{env}-{dataset}", episodes, version_id=dataset_id)


def load_dataset(name: str, env: str | None = None, download: bool = False, seed: int = 0) -> Dataset:
    """Load any supported source into a `Dataset` (see the module docstring for the name forms).

    `env` is needed for a plain file and may override the env Minari records; `download` lets Minari
    fetch a dataset that is not local; `seed` picks which generated copy of a suite dataset to use.
    """
    if name.startswith("d4rl:"):
        return load_d4rl(name.removeprefix("d4rl:"))
    if name.startswith("minari:"):
        return load_minari(name.removeprefix("minari:"), env=env, download=download)
    if name.endswith((".hdf5", ".h5")) or Path(name).is_file():
        if env is None:
            raise ValueError(f"load_dataset({name!r}) needs env=, one of: {', '.join(sorted(ENVS))}")
        return load_d4rl_file(Path(name), env=env, name=name)
    if "-" in name:
        return load_suite_dataset(*parse_suite_name(name), seed=seed)
    raise ValueError(
        f"cannot tell what {name!r} is; use 'd4rl:<env>-<dataset>-v2', 'minari:<dataset id>', "
        f"a path to a .hdf5 file with env=, or '<env>-<dataset>' with env in {', '.join(sorted(ENVS))} "
        f"and dataset in {', '.join(DATASETS)}")
