"""How fast the suite rebuilds and loads datasets: prints a markdown table, writes benchmarks/results/datasets.json.

    python -m benchmarks.datasets --env hopper --num-transitions 1000000

Measures (1) rollout throughput of one behaviour policy in sync and async gymnasium vector envs,
(2) a whole `python -m envs.generate` rebuild (rollout plus Minari and flat writes) of medium and
random, whose 50k short episodes make the Minari write slowest, and (3) loading: the rebuilt datasets
through load_dataset (the flat copy) and through Minari, and a D4RL-layout file of num_transitions rows.
Uses the shipped medium policy when there is one, else an untrained actor of the same size (speed only);
everything is written under a temporary directory.
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

from envs import load_dataset, make_env
from envs.generate import GenerateConfig, generate
from envs.minari_data import load_minari, suite_dataset_id
from envs.policies import POLICIES_DIR, Checkpoint, Manifest
from envs.rollout import SACActorPolicy, collect
from envs.train_sac import save_actor
from runutils import atomic_path, parse_config


@dataclass
class BenchConfig:
    env: str = "hopper"
    num_transitions: int = 1_000_000  # per rebuilt dataset and for the D4RL-layout file
    rollout_transitions: int = 100_000  # per vector-env setting
    out: str = "benchmarks/results/datasets.json"


def policies_dir(cfg: BenchConfig, scratch: Path) -> tuple[Path, str]:
    """The shipped policies, or a stand-in: an untrained SAC actor as both medium and expert."""
    if (POLICIES_DIR / cfg.env / "manifest.json").exists():
        return POLICIES_DIR, "shipped medium policy"
    model = SAC("MlpPolicy", make_env(cfg.env))
    save_actor(model, scratch / "policies" / cfg.env / Manifest.actor_file(0), 0)
    untrained = Checkpoint(0, 0.0, 0.0)
    manifest = Manifest(cfg.env, "untrained", 0, untrained, untrained, [])
    (scratch / "policies" / cfg.env / "manifest.json").write_text(manifest.to_json())
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


def main(cfg: BenchConfig) -> list[dict]:
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ["MINARI_DATASETS_PATH"] = str(scratch / "minari")
        policies, policy_note = policies_dir(cfg, scratch)
        actor_file = policies / cfg.env / Manifest.actor_file(
            Manifest.from_json((policies / cfg.env / "manifest.json").read_text()).medium.step)
        for vectorization, num_envs in [("sync", 1), ("sync", 16), ("async", 2), ("async", 16)]:
            policy = SACActorPolicy(actor_file, make_env(cfg.env), torch.Generator().manual_seed(0))
            _, seconds = timed(collect, cfg.env, [(0, policy)], cfg.rollout_transitions, 0, num_envs, vectorization)
            rows.append({"what": f"rollout, {policy_note}, {vectorization} x{num_envs}",
                         "transitions": cfg.rollout_transitions, "seconds": seconds})
        for dataset in ("medium", "random"):
            generate_cfg = GenerateConfig(env=cfg.env, dataset=dataset, num_transitions=cfg.num_transitions,
                                          policies=str(policies), vectorization="sync", num_envs=16)
            loaded, seconds = timed(generate, generate_cfg)
            rows.append({"what": f"rebuild {cfg.env}-{dataset} (rollout + write), {len(loaded.episodes)} episodes",
                         "transitions": loaded.num_transitions, "seconds": seconds})
            _, seconds = timed(load_dataset, f"{cfg.env}-{dataset}")
            rows.append({"what": f"load_dataset('{cfg.env}-{dataset}') (flat copy)",
                         "transitions": loaded.num_transitions, "seconds": seconds})
            _, seconds = timed(load_minari, suite_dataset_id(cfg.env, dataset, 0))
            rows.append({"what": "the same through Minari's episode reader",
                         "transitions": loaded.num_transitions, "seconds": seconds})
        write_flat_file(scratch / "flat.hdf5", cfg.env, cfg.num_transitions)
        _, seconds = timed(load_dataset, str(scratch / "flat.hdf5"), cfg.env)
        rows.append({"what": "load_dataset(D4RL-layout file), ~20-step episodes",
                     "transitions": cfg.num_transitions, "seconds": seconds})
    print("| what | transitions | seconds | transitions/s |\n|---|---:|---:|---:|")
    for row in rows:
        row["transitions_per_s"] = row["transitions"] / row["seconds"]
        print(f"| {row['what']} | {row['transitions']:,} | {row['seconds']:.2f} | {row['transitions_per_s']:,.0f} |")
    with atomic_path(Path(cfg.out)) as tmp:
        tmp.write_text(json.dumps({"config": asdict(cfg), "cpu_count": os.cpu_count(), "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main(parse_config(BenchConfig, __doc__))
