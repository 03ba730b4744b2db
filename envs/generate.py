"""Build the suite's D4RL-recipe datasets from the shipped behaviour policies (envs/policies/<env>/).

    python -m envs.generate --env hopper --dataset medium --seed 0

  random         uniform random actions
  medium         the manifest's medium actor (about a third of D4RL's expert return)
  expert         the manifest's expert actor (the best policy the SAC run reached), when the run
                 reached an expert's level (envs.policies.export); otherwise an error says how far it got
  medium-expert  medium, then expert, num_transitions each: the two datasets above concatenated
  medium-replay  a re-enactment of the SAC run's replay buffer up to the medium checkpoint: uniform
                 random actions for the run's first learning_starts steps, then from each saved
                 actor's step on that actor, until the medium step (so as many transitions as that).
Actions are sampled from the actor's tanh-Gaussian as SAC collected them (--deterministic for the mean).
How medium-replay differs from the run's real buffer: the real actor changed at every gradient step,
the re-enactment holds each saved actor for a whole checkpoint interval (10k steps by default), and
it runs num_envs episodes side by side where SAC ran one, so num_envs episodes are cut at the end
instead of one.

Written as the Minari dataset minrnn/<env>/<dataset>-v<N> (-seed<k>-v<N> for seed k != 0; N the data
version in the policies' manifest, 0 for random data) under
MINARI_DATASETS_PATH (default ~/.minari/datasets), with D4RL's reference scores in its metadata.
The data depend on seed and num_envs only (not on --vectorization, not on the machine's speed).
A bad value, missing policies or an existing dataset: one line `error: ...`, exit status 1.
One process generates a dataset at a time (a sweep's load_dataset included): a second asking for it
waits, then is refused as for an existing dataset, before rolling anything out.
"""
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from envs.d4rl import write_d4rl_file
from envs.dataset import Dataset, from_minari_episodes
from envs.minari_data import (FAST_COPY, NAMESPACE, generation_lock, refuse_to_overwrite, suite_dataset_id,
                               write_minari)
from envs.policies import (POLICIES_DIR, POLICY_LEVELS, NoExpertPolicy, data_version, load_manifest, policies_used,
                           read_evaluations)
from envs.collect import SACActorPolicy, UniformRandomPolicy, collect, replay_schedule
from envs.specs import DATASETS, ENVS, env_spec, make_env
from suite.runutils import POSITIVE, SEED, exclusive_lock, expected_errors, one_of, parse_config


@dataclass
class GenerateConfig:
    env: str = "hopper"
    dataset: str = "medium"
    seed: int = 0
    num_transitions: int = 1_000_000  # per policy; medium-replay's length is the medium step instead
    num_envs: int = 16
    vectorization: str = "sync"  # or async: one process per env, slower here (benchmarks/datasets.py)
    deterministic: bool = False  # act with the actor's mean instead of sampling
    policies: str = ""  # default: envs/policies
    overwrite: bool = False


CHECKS = {"env": one_of(sorted(ENVS)), "dataset": one_of(DATASETS), "seed": SEED, "num_transitions": POSITIVE,
          "num_envs": POSITIVE, "vectorization": one_of(("sync", "async"))}


def rollout_parts(cfg: GenerateConfig) -> tuple[list[tuple[list, int]], dict]:
    """The (schedule, num_transitions) rollouts that make up `cfg.dataset`, and what they used.

    Each rollout draws from its own random generators seeded with cfg.seed, so medium-expert's two
    parts equal the medium and expert datasets of the same seed.
    """
    gym_env = make_env(cfg.env)
    random_policy = UniformRandomPolicy(gym_env.action_space, np.random.default_rng(cfg.seed))
    if cfg.dataset == "random":
        return [([(0, random_policy)], cfg.num_transitions)], {"policy": "uniform random"}
    manifest, actor_dir = load_manifest(cfg.env, cfg.policies)

    if manifest.expert is None and "expert" in cfg.dataset:
        best = max(read_evaluations(actor_dir / "learning_curve.jsonl").values(), key=lambda c: c.data_level)
        raise NoExpertPolicy(f"no expert policy for {cfg.env}: its SAC run ({manifest.run}) reached at best a "
                             f"data level of {best.data_level:.1f} normalized (step {best.step}), short of an expert's "
                             f"80; datasets available for {cfg.env}: random, medium, medium-replay. Train the run on "
                             f"(python -m envs.train_sac ... resumes it) and export it again")
    used = policies_used(manifest, cfg.dataset)
    if cfg.dataset == "medium-replay":
        actors = {step: actor_dir / manifest.actor_file(step) for step in manifest.replay_steps}
        schedule = replay_schedule(gym_env, actors, manifest.learning_starts, cfg.seed, cfg.deterministic)
        return [(schedule, manifest.medium.step)], used
    return [([(0, SACActorPolicy(actor_dir / manifest.policy_file(level), gym_env,
                                 torch.Generator().manual_seed(cfg.seed), cfg.deterministic))],
             cfg.num_transitions) for level in POLICY_LEVELS[cfg.dataset]], used


def write_suite_dataset(dataset_id: str, env: str, name: str, buffers: list, description: str,
                        recipe: dict, overwrite: bool = False) -> Dataset:
    """Write Minari episode buffers as Minari dataset `dataset_id` plus its FAST_COPY, all or nothing,
    with `recipe` in the Minari metadata under NAMESPACE; checked (envs.dataset) before anything is written."""
    dataset = from_minari_episodes(env, name, buffers)
    spec = env_spec(env)
    write_minari(dataset_id, buffers, spec.d4rl_id, (spec.ref_min_score, spec.ref_max_score), description,
                 {NAMESPACE: recipe}, overwrite,
                 extra_files=lambda directory: write_d4rl_file(directory / FAST_COPY, *dataset.flat()))
    return dataset


def generate(cfg: GenerateConfig) -> Dataset:
    """Roll the dataset out, write it (all or nothing) as a Minari dataset, and return it."""
    env_spec(cfg.env)
    if cfg.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; valid datasets: {', '.join(DATASETS)}")
    version = data_version(cfg.env, cfg.dataset, cfg.policies or None)
    dataset_id = suite_dataset_id(cfg.env, cfg.dataset, cfg.seed, version)
    with exclusive_lock(generation_lock(dataset_id)):  # one process generates a dataset at a time
        refuse_to_overwrite(dataset_id, cfg.overwrite)  # now, not after the rollout
        print(f"generating {dataset_id} ({cfg.dataset}, seed {cfg.seed}) from the policies in "
              f"{cfg.policies or POLICIES_DIR}", flush=True)
        started = time.time()
        caller_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny batches; also keeps the sampled actions independent of the thread count
        try:
            parts, used = rollout_parts(cfg)
            buffers = []
            for schedule, num_transitions in parts:
                buffers += collect(cfg.env, schedule, num_transitions, cfg.seed, cfg.num_envs, cfg.vectorization)
        finally:
            torch.set_num_threads(caller_threads)
        rollout_s = time.time() - started
        recipe = {**asdict(cfg), **used, "rollout_s": round(rollout_s, 1)}
        description = (f"{cfg.env} {cfg.dataset}, D4RL's recipe on the minrnn suite's own SAC policies "
                       f"(seed {cfg.seed}); see metadata['minrnn'] for the policies and their returns")
        dataset = write_suite_dataset(dataset_id, cfg.env, f"{cfg.env}-{cfg.dataset}", buffers, description,
                                      recipe, cfg.overwrite)
        returns = dataset.normalized_returns()
        print(f"{dataset_id}: {dataset.num_transitions} transitions, {len(dataset.episodes)} episodes, "
              f"normalized return {returns.mean():.1f} +- {returns.std():.1f}; rollout {rollout_s:.0f} s "
              f"({dataset.num_transitions / rollout_s:.0f} transitions/s), total {time.time() - started:.0f} s")
        return dataset


if __name__ == "__main__":
    with expected_errors():
        generate(parse_config(GenerateConfig, __doc__, checks=CHECKS))
