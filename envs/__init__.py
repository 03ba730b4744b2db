"""Environments and offline datasets of the suite: D4RL files, Minari datasets, and its own D4RL-recipe data."""
from envs.dataset import DATASETS, Dataset, Episode, load_dataset
from envs.specs import ENVS, env_spec, make_env, normalized_score

__all__ = ["DATASETS", "Dataset", "Episode", "ENVS", "env_spec", "load_dataset", "make_env", "normalized_score"]
