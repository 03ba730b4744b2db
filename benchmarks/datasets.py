"""How fast the suite rebuilds and loads datasets: prints markdown tables, writes benchmarks/results/datasets.json.

    python -m benchmarks.datasets --env hopper --num-transitions 1000000
    python -m benchmarks.datasets --replay-run runs/sac/hopper-s0 --replay-step 130000   # + medium-replay check

Measures (1) rollout throughput of one behaviour policy in sync and async gymnasium vector envs,
(2) a whole `python -m envs.generate` rebuild (rollout plus Minari and flat writes) of medium and
random (whose many short episodes make the Minari write slowest), (3) loading: the rebuilt datasets
through load_dataset (the flat copy) and through Minari, and a D4RL-layout file of load_transitions
rows, and, with --replay-run, (4) how the re-enacted medium-replay compares with that SAC run's real
replay buffer up to --replay-step. Uses the shipped medium policy when there is one, else an untrained
actor of the same size (speed only); everything is written under a temporary directory.
"""
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.save_util import load_from_pkl

from envs import ENVS, load_dataset, make_env, normalized_score
from envs.dataset import load_minari
from envs.generate import GenerateConfig, generate
from envs.minari_data import suite_dataset_id
from envs.policies import POLICIES_DIR, Checkpoint, Manifest, data_version, saved_actors
from envs.policies.actors import save_actor
from envs.policies.export import write_policies
from envs.collect import SACActorPolicy, collect
from suite.runutils import NON_NEGATIVE, POSITIVE, atomic_path, one_of, parse_config


@dataclass
class BenchConfig:
    env: str = "hopper"
    num_transitions: int = 1_000_000  # per rebuilt dataset
    rollout_transitions: int = 100_000  # per vector-env setting
    load_transitions: int = 1_000_000  # rows of the D4RL-layout file loaded
    replay_run: str = ""  # a SAC run (envs.train_sac) whose replay buffer to compare medium-replay with
    replay_step: int = 0  # compare up to the last actor at or before this step; 0: as far as the buffer goes
    out: str = "benchmarks/results/datasets.json"


CHECKS = {"env": one_of(ENVS), **dict.fromkeys(("num_transitions", "rollout_transitions", "load_transitions"), POSITIVE),
          "replay_step": NON_NEGATIVE}


def policies_dir(cfg: BenchConfig, scratch: Path) -> tuple[Path, str]:
    """The shipped policies, or a stand-in: an untrained SAC actor as both medium and expert."""
    if (POLICIES_DIR / cfg.env / "manifest.json").exists():
        return POLICIES_DIR, "shipped medium policy"
    actor = scratch / "untrained.pt"
    save_actor(SAC("MlpPolicy", make_env(cfg.env)).policy.actor, actor, 0)
    untrained = Checkpoint(0, 0.0, 0.0)
    write_policies(scratch / "policies" / cfg.env, Manifest(cfg.env, "untrained", 0, untrained, untrained, []),
                   {0: actor})
    return scratch / "policies", "untrained actor (same size as the shipped ones)"


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def write_flat_file(path: Path, env: str, num_rows: int) -> None:
    """A D4RL-layout file of random values in ~20-step episodes, like D4RL's hopper-random."""
    rng = np.random.default_rng(0)
    gym_env = make_env(env)
    with h5py.File(path, "w") as f:
        f["observations"] = rng.standard_normal((num_rows, *gym_env.observation_space.shape), dtype=np.float32)
        f["actions"] = rng.uniform(-1, 1, (num_rows, *gym_env.action_space.shape)).astype(np.float32)
        f["rewards"] = rng.standard_normal(num_rows, dtype=np.float32)
        f["terminals"] = rng.random(num_rows) < 0.05
        f["timeouts"] = np.zeros(num_rows, bool)


def speed_rows(cfg: BenchConfig, scratch: Path) -> list[dict]:
    rows = []

    def record(what: str, transitions: int, seconds: float) -> None:
        rows.append({"what": what, "transitions": transitions, "seconds": seconds,
                     "transitions_per_s": transitions / seconds})

    policies, policy_note = policies_dir(cfg, scratch)
    manifest = Manifest.from_json((policies / cfg.env / "manifest.json").read_text())
    for vectorization, num_envs in [("sync", 1), ("sync", 16), ("async", 2), ("async", 16)]:
        policy = SACActorPolicy(policies / cfg.env / manifest.policy_file("medium"), make_env(cfg.env),
                                torch.Generator().manual_seed(0))
        _, seconds = timed(collect, cfg.env, [(0, policy)], cfg.rollout_transitions, 0, num_envs, vectorization)
        record(f"rollout, {policy_note}, {vectorization} x{num_envs}", cfg.rollout_transitions, seconds)
    for dataset in ("medium", "random"):
        loaded, seconds = timed(generate, GenerateConfig(env=cfg.env, dataset=dataset, policies=str(policies),
                                                         num_transitions=cfg.num_transitions))
        record(f"rebuild {cfg.env}-{dataset} (rollout + write), {len(loaded.episodes)} episodes",
               loaded.num_transitions, seconds)
        record(f"load_dataset('{cfg.env}-{dataset}') (flat copy)", loaded.num_transitions,
               timed(load_dataset, f"{cfg.env}-{dataset}")[1])
        record("the same through Minari's episode reader", loaded.num_transitions,
               timed(load_minari, suite_dataset_id(cfg.env, dataset, 0, data_version(cfg.env, dataset, policies)))[1])
    write_flat_file(scratch / "flat.hdf5", cfg.env, cfg.load_transitions)
    record("load_dataset(D4RL-layout file), ~20-step episodes", cfg.load_transitions,
           timed(load_dataset, str(scratch / "flat.hdf5"), cfg.env)[1])
    return rows


def replay_rows(cfg: BenchConfig, scratch: Path) -> list[dict]:
    """Episode statistics of the run's real replay buffer and of medium-replay re-enacted from its actors."""
    run_dir = Path(cfg.replay_run)
    run_config = json.loads((run_dir / "config.json").read_text())
    env, actors = run_config["env"], saved_actors(run_dir)
    buffer = load_from_pkl(run_dir / "checkpoint" / "replay_buffer.pkl")
    stored = buffer.buffer_size if buffer.full else buffer.pos
    num_rows = max(step for step in actors if step <= min(cfg.replay_step or stored, stored))
    rewards, dones = buffer.rewards[:num_rows, 0], buffer.dones[:num_rows, 0].astype(bool)
    starts = np.concatenate([[0], np.flatnonzero(dones[:-1]) + 1])
    real_returns, real_lengths = np.add.reduceat(rewards, starts), np.diff(np.append(starts, num_rows))

    medium = Checkpoint(num_rows, float("nan"), float("nan"))  # only its step matters to medium-replay
    manifest = Manifest(env, str(run_dir), run_config["learning_starts"], medium, medium,
                        sorted(step for step in actors if step < num_rows))
    write_policies(scratch / "replay_policies" / env, manifest, actors)
    reenacted = generate(GenerateConfig(env=env, dataset="medium-replay", policies=str(scratch / "replay_policies")))
    rows = []
    for what, returns, lengths in [
            (f"real replay buffer of {run_dir}, first {num_rows} transitions", real_returns, real_lengths),
            ("re-enacted from its actors (envs.generate medium-replay)", reenacted.episode_returns(),
             np.array([len(ep.rewards) for ep in reenacted.episodes]))]:
        rows.append({"what": what, "transitions": int(lengths.sum()), "episodes": len(lengths),
                     "mean_length": float(lengths.mean()), "return_mean": float(returns.mean()),
                     "return_std": float(returns.std()),
                     "normalized_mean": float(normalized_score(env, returns).mean())})
    return rows


def main(cfg: BenchConfig) -> dict:
    torch.set_num_threads(1)  # as envs.generate does: a second torch thread stalls a batch-16 forward on a busy core
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(scratch) / "minari")
        results = {"config": asdict(cfg), "cpu_count": os.cpu_count(),
                   "speed": speed_rows(cfg, Path(scratch)),
                   "replay": replay_rows(cfg, Path(scratch)) if cfg.replay_run else []}
    print("| what | transitions | seconds | transitions/s |\n|---|---:|---:|---:|")
    for row in results["speed"]:
        print(f"| {row['what']} | {row['transitions']:,} | {row['seconds']:.2f} | {row['transitions_per_s']:,.0f} |")
    if results["replay"]:
        print("\n| medium-replay | transitions | episodes | mean length | return | normalized |\n|---|---:|---:|---:|---:|---:|")
        for row in results["replay"]:
            print(f"| {row['what']} | {row['transitions']:,} | {row['episodes']:,} | {row['mean_length']:.1f} | "
                  f"{row['return_mean']:.1f} +- {row['return_std']:.1f} | {row['normalized_mean']:.1f} |")
    with atomic_path(Path(cfg.out)) as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(parse_config(BenchConfig, __doc__, checks=CHECKS))
