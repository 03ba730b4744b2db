"""Train a decision agent on one env and dataset.

    python train.py                                   # hopper-medium, minGRU, cpu preset
    python train.py --env hopper --dataset medium --backbone mingru --seed 0
    python train.py --preset paper --backbone attention
    python train.py --out runs/x --resume             # go on from runs/x/checkpoint.pt

Every field of the config is a flag (python train.py --help). Precedence: flags, then
configs/<preset>/<env>-<dataset>.json where the reference recipe differs, then the preset.
The run directory gets config.json, checkpoint.pt (written atomically every
`checkpoint_every` steps and at the end), eval.jsonl and tensorboard logs (tb/).
"""
import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from agents.decision import AgentConfig, DecisionAgent
from agents.rollout import rollout
from envs import DATASETS, env_spec, load_dataset
from runutils import atomic_path, parse_config, pick_device, seed_everything


@dataclass
class TrainConfig(AgentConfig):
    env: str = "hopper"
    dataset: str = "medium"  # a suite dataset (medium, ...), or d4rl:..., minari:..., a .hdf5 path
    preset: str = "cpu"
    seed: int = 0
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    grad_clip: float = 0.25
    max_episode_len: int = 1000  # episode regime: segments run from t = 0 up to this many steps
    eval_every: int = 1000
    eval_episodes: int = 10
    checkpoint_every: int = 500
    num_envs: int = 10
    threads: int = 0  # 0: torch's default
    device: str = "auto"
    out: str = ""  # default runs/<env>-<dataset>-<backbone>-<context>-s<seed>
    resume: bool = False

    def run_dir(self) -> Path:
        dataset = self.dataset.replace(":", "-").replace("/", "-")
        return Path(self.out or f"runs/{self.env}-{dataset}-{self.backbone}-{self.context}-s{self.seed}")

    def agent_config(self) -> AgentConfig:
        return AgentConfig(**{f.name: getattr(self, f.name) for f in fields(AgentConfig)})


PRESETS = {
    # minutes on a 2-core CPU: a smaller model, a shorter schedule, one thread (ops this small
    # gain little from a second one, and OpenMP threads spin badly when the other core is busy)
    "cpu": TrainConfig(d_model=64, n_layers=2, context_len=20, batch_size=32, steps=10_000, lr=6e-4,
                       warmup_steps=300, dropout=0.1, eval_every=2500, checkpoint_every=500, threads=1),
    # Decision Transformer's reference recipe (../shared/design.md), for a GPU
    "paper": TrainConfig(d_model=128, n_layers=3, context_len=20, batch_size=64, steps=100_000, lr=1e-4,
                         warmup_steps=10_000, dropout=0.1, eval_every=10_000, checkpoint_every=5_000,
                         eval_episodes=100),
}
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def load_config(argv=None) -> TrainConfig:
    """The preset, then its per env-dataset config file, then the command-line flags."""
    early = argparse.ArgumentParser(add_help=False)
    for name in ("preset", "env", "dataset"):
        early.add_argument(f"--{name}", default=getattr(TrainConfig, name))
    known, _ = early.parse_known_args(argv)
    if known.preset not in PRESETS:
        raise SystemExit(f"unknown preset {known.preset!r}; valid presets: {', '.join(PRESETS)}")
    defaults = replace(PRESETS[known.preset], preset=known.preset)
    override = CONFIG_DIR / known.preset / f"{known.env}-{known.dataset}.json"
    if override.exists():
        defaults = replace(defaults, **json.loads(override.read_text()))
    return parse_config(TrainConfig, __doc__, argv, defaults=defaults)


class SegmentSampler:
    """Batches of segments from a dataset, right-padded with a mask (causal models ignore the pad)."""

    def __init__(self, dataset, cfg: TrainConfig, seed: int):
        episodes = dataset.episodes
        self.lengths = np.array([len(ep.rewards) for ep in episodes])
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.observations = np.concatenate([ep.observations for ep in episodes])
        self.actions = np.concatenate([ep.actions for ep in episodes])
        self.returns_to_go = np.concatenate([np.cumsum(ep.rewards[::-1], dtype=np.float64)[::-1] for ep in episodes])
        self.timesteps = np.concatenate([np.arange(n) for n in self.lengths])
        self.window = cfg.context == "window"
        self.segment_len = cfg.context_len if self.window else min(cfg.max_episode_len, self.lengths.max())
        self.batch_size = cfg.batch_size
        self.rng = np.random.default_rng(seed)
        self.episode_probs = self.lengths / self.lengths.sum()  # each transition equally likely

    def sample(self, device) -> dict:
        episode = self.rng.choice(len(self.lengths), size=self.batch_size, p=self.episode_probs)
        offset = self.rng.integers(0, self.lengths[episode]) if self.window else np.zeros(self.batch_size, int)
        steps = np.arange(self.segment_len)
        mask = steps[None] < (self.lengths[episode] - offset)[:, None]
        if not self.window:  # whole episodes: pad only up to the longest in this batch
            keep = mask.any(0)
            steps, mask = steps[keep], mask[:, keep]
        rows = np.where(mask, self.starts[episode][:, None] + offset[:, None] + steps[None], 0)

        def gather(values, dtype):
            out = values[rows]
            out[~mask] = 0
            return torch.as_tensor(out, dtype=dtype, device=device)

        return {"returns_to_go": gather(self.returns_to_go, torch.float32),
                "observations": gather(self.observations, torch.float32),
                "actions": gather(self.actions, torch.float32),
                "timesteps": gather(self.timesteps, torch.long),
                "mask": torch.as_tensor(mask, dtype=torch.float32, device=device)}


def evaluate_agent(agent, cfg: TrainConfig) -> list[dict]:
    agent.eval()
    results = [rollout(agent, cfg.env, cfg.eval_episodes, target, num_envs=cfg.num_envs, seed=cfg.seed)
               for target in env_spec(cfg.env).target_returns]
    agent.train()
    return results


def train(cfg: TrainConfig) -> Path:
    run_dir = cfg.run_dir()
    checkpoint_path = run_dir / "checkpoint.pt"
    if cfg.resume and not checkpoint_path.exists():
        raise SystemExit(f"--resume: no checkpoint at {checkpoint_path}")
    if not cfg.resume and checkpoint_path.exists():
        raise SystemExit(f"{run_dir} already holds a run; pass --resume to go on, or --out for a new one")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    dataset = load_dataset(f"{cfg.env}-{cfg.dataset}" if cfg.dataset in DATASETS else cfg.dataset, env=cfg.env)
    if dataset.env != cfg.env:
        raise SystemExit(f"dataset {dataset.name!r} belongs to env {dataset.env!r}, not --env {cfg.env!r}")
    # seeded after loading: generating a dataset on first use draws from the global RNGs, and the
    # run must be the same whether its dataset was generated just now or read from the cache
    seed_everything(cfg.seed)
    obs_mean, obs_std = dataset.obs_mean_std()
    agent = DecisionAgent(cfg.agent_config(), dataset.episodes[0].observations.shape[1],
                          dataset.episodes[0].actions.shape[1], obs_mean, obs_std).to(device)
    optimizer = torch.optim.AdamW(agent.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup_steps))
    sampler = SegmentSampler(dataset, cfg, cfg.seed)
    step = 0
    if cfg.resume:
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=False)
        agent.load_state_dict(checkpoint["agent"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        sampler.rng.bit_generator.state = checkpoint["sampler_rng"]
        torch.set_rng_state(checkpoint["torch_rng"])
        step = checkpoint["step"]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    print(json.dumps(asdict(cfg)), flush=True)
    print(f"{dataset.name}: {len(dataset.episodes)} episodes, {dataset.num_transitions} transitions, "
          f"mean normalized return {dataset.normalized_returns().mean():.1f}; device {device}; "
          f"{sum(p.numel() for p in agent.parameters())} parameters", flush=True)

    def save_checkpoint():
        with atomic_path(checkpoint_path) as tmp:
            torch.save({"agent": agent.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "sampler_rng": sampler.rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(), "step": step, "config": asdict(cfg),
                        "obs_dim": agent.obs_dim, "act_dim": agent.act_dim, "dataset": dataset.name}, tmp)

    writer = SummaryWriter(str(run_dir / "tb"))
    agent.train()
    progress = tqdm(total=cfg.steps, initial=step, desc=run_dir.name, dynamic_ncols=True, mininterval=2.0)
    tokens, window_start = 0, time.perf_counter()
    while step < cfg.steps:
        batch = sampler.sample(device)
        loss = agent.loss(**batch)
        if not torch.isfinite(loss):
            writer.close()
            raise SystemExit(f"loss is {loss.item()} at step {step + 1}; stopping. The last good checkpoint "
                             f"is {checkpoint_path} (step {step - step % cfg.checkpoint_every}).")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        tokens += 3 * int(batch["mask"].sum())
        progress.update(1)
        if step % 50 == 0:
            elapsed = time.perf_counter() - window_start
            writer.add_scalar("train/loss", loss.item(), step)
            writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
            writer.add_scalar("train/tokens_per_s", tokens / elapsed, step)
            progress.set_postfix(loss=f"{loss.item():.4f}")
            tokens, window_start = 0, time.perf_counter()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_checkpoint()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            for result in evaluate_agent(agent, cfg):
                target = int(result["target_return"])
                writer.add_scalar(f"eval/return_{target}", result["return_mean"], step)
                writer.add_scalar(f"eval/normalized_return_{target}", result["normalized_mean"], step)
                with open(run_dir / "eval.jsonl", "a") as f:
                    f.write(json.dumps({"step": step, **result}) + "\n")
                progress.write(f"step {step}: target {target}: return {result['return_mean']:.0f} "
                               f"normalized {result['normalized_mean']:.1f}")
    progress.close()
    writer.close()
    return run_dir


if __name__ == "__main__":
    try:
        print(f"run directory: {train(load_config())}")
    except ValueError as error:  # bad names and bad data: say what is wrong, no traceback
        sys.exit(f"error: {error}")
