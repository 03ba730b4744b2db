"""Environments and offline datasets of the suite: D4RL files, Minari datasets, and its own D4RL-recipe data.

Modules, from the bottom up (each imports only those below it): specs; the file formats d4rl and
minari_data; dataset (the `Dataset` every source loads into); policies, train_sac, rollout and
generate (the suite's own data); load (`load_dataset`, any dataset by name); stats (the data table
beside D4RL's).
"""
from envs.dataset import Dataset, Episode
from envs.load import load_dataset
from envs.specs import DATASETS, ENVS, env_spec, make_env, normalized_score

__all__ = ["DATASETS", "Dataset", "Episode", "ENVS", "env_spec", "load_dataset", "make_env", "normalized_score"]
