"""Train a decision agent on one env and dataset.

    python train.py                                   # hopper-medium, minGRU, cpu preset
    python train.py --env hopper --dataset medium --backbone mingru --seed 0
    python train.py --preset paper --backbone attention
    python train.py --out runs/x --resume             # go on from runs/x/checkpoint.pt

Every field of the config is a flag (python train.py --help). Precedence: flags, then
configs/<preset>/<env>-<dataset>.json where the reference recipe differs, then the preset.
The run directory gets config.json (once the run starts or goes on), checkpoint.pt (every
`checkpoint_every` steps and at the end; both written atomically), eval.jsonl and tensorboard logs (tb/).

Bad values stop the command before it writes anything, with one line `error: ...` and exit
status 1. One process at a time writes a run directory: a second train.py on it stops with one
line and exit status 75 (suite.runutils.RUN_IN_USE_STATUS), changing nothing. `--resume` goes on only with the run's own values of the fields in RUN_SHAPING; when
the run already holds `--steps` steps it says so and exits with status 0, writing nothing (fewer
`--steps` than the run holds is an error).
"""
import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from agents.decision import CONTEXTS, INITS, AgentConfig, DecisionAgent, saved_config
from agents.regimes import REGIMES
from agents.rollout import rollout
from envs import DATASETS, ENVS, env_spec, load_dataset
from minrnn import BACKBONES
from suite.runutils import (DEVICE, NON_NEGATIVE, POSITIVE, PROBABILITY, SEED, OneLineParser, append_json_line,
                            atomic_path, expected_errors, hold_run, load_checkpoint, one_of, parse_config,
                            pick_device, seed_everything)


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


def is_dataset(name: str) -> bool:
    """A suite dataset, a d4rl:/minari: name (checked when loaded), or a file (missing ones are named when loaded)."""
    return name in DATASETS or name.startswith(("d4rl:", "minari:")) or name.endswith((".hdf5", ".h5")) \
        or Path(name).is_file()


# the allowed values of every field that has limits; the names are checked here too, so that a
# misspelt one stops the command before a dataset is loaded (or generated)
CHECKS = {
    **dict.fromkeys(("steps", "batch_size", "context_len", "d_model", "n_layers", "n_heads", "eval_every",
                     "eval_episodes", "checkpoint_every", "num_envs", "warmup_steps", "max_timestep",
                     "max_episode_len", "lr", "grad_clip", "return_scale"), POSITIVE),
    **dict.fromkeys(("weight_decay", "threads"), NON_NEGATIVE),
    "seed": SEED,
    "dropout": PROBABILITY,
    "env": one_of(sorted(ENVS)),
    "dataset": (is_dataset, f"{', '.join(DATASETS)}, d4rl:<env>-<dataset>-v2, minari:<dataset id>, "
                            f"or a path to a .hdf5 file"),
    "backbone": one_of(BACKBONES),
    "context": one_of(CONTEXTS),
    "init": one_of(INITS),
    "device": DEVICE,
}
# what a resumed run must keep: the fields that shape the model, the data or the sampler's stream
RUN_SHAPING = ("env", "dataset", "seed", "backbone", "context", "context_len", "d_model", "n_layers", "n_heads",
               "max_timestep", "return_scale", "init", "max_episode_len", "batch_size")


def json_value_fits(value, default) -> bool:
    """Whether a config file's JSON value can stand for a field whose default is `default`
    (a whole number for a float, never true/false for a number)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def load_config(argv=None) -> TrainConfig:
    """The preset, then its per env-dataset config file, then the command-line flags, checked."""
    early = OneLineParser(add_help=False)
    for name in ("preset", "env", "dataset"):
        early.add_argument(f"--{name}", default=getattr(TrainConfig, name))
    known, _ = early.parse_known_args(argv)
    if known.preset not in PRESETS:
        raise SystemExit(f"error: --preset: unknown preset {known.preset!r}; allowed: {', '.join(PRESETS)}")
    defaults = replace(PRESETS[known.preset], preset=known.preset)
    override = CONFIG_DIR / known.preset / f"{known.env}-{known.dataset}.json"
    if override.exists():
        try:
            values = json.loads(override.read_text())
        except ValueError as error:
            raise SystemExit(f"error: {override}: not valid JSON ({error}); allowed: an object of TrainConfig fields")
        names = sorted(f.name for f in fields(TrainConfig))
        unknown = sorted(set(values) - set(names)) if isinstance(values, dict) else [values]
        if unknown:
            raise SystemExit(f"error: {override}: unknown field(s) {unknown}; allowed: an object of TrainConfig "
                             f"fields ({', '.join(names)})")
        mistyped = [f"{name}={value!r} (wants {type(getattr(defaults, name)).__name__})"
                    for name, value in values.items() if not json_value_fits(value, getattr(defaults, name))]
        if mistyped:
            raise SystemExit(f"error: {override}: wrong type for {', '.join(mistyped)}; allowed: an object of "
                             f"TrainConfig fields with values of their types")
        defaults = replace(defaults, **values)
    cfg = parse_config(TrainConfig, __doc__, argv, defaults=defaults, checks=CHECKS)
    if cfg.backbone == "attention" and cfg.d_model % cfg.n_heads:
        raise SystemExit(f"error: --n-heads: value {cfg.n_heads} does not divide --d-model {cfg.d_model}; "
                         f"allowed: a divisor of {cfg.d_model}")
    return cfg


def resumable_checkpoint(cfg: TrainConfig, path: Path) -> dict:
    """The checkpoint at `path`, once it is known to be this run's: every RUN_SHAPING field as
    `cfg` has it, and no more steps than `cfg.steps`."""
    if not path.exists():
        raise ValueError(f"--resume: no checkpoint at {path}; leave out --resume to start a run there")
    checkpoint = load_checkpoint(path)
    saved = saved_config(checkpoint["config"])
    differ = [f"--{name.replace('_', '-')} is {saved[name]!r} there, {getattr(cfg, name)!r} here"
              for name in RUN_SHAPING if name in saved and saved[name] != getattr(cfg, name)]
    if differ:
        raise ValueError(f"--resume: {path} is another run: {'; '.join(differ)}. Pass the run's values "
                         f"to go on with it, or --out for a new run")
    if checkpoint["step"] > cfg.steps:
        raise ValueError(f"--steps: value {cfg.steps} is below the {checkpoint['step']} steps {path} already "
                         f"holds; allowed with --resume: {checkpoint['step']} or more")
    return checkpoint


def make_agent(dataset, cfg: TrainConfig) -> DecisionAgent:
    """A fresh agent for `dataset`: its sizes and its observation statistics for normalising states."""
    obs_mean, obs_std = dataset.obs_mean_std()
    return DecisionAgent(cfg.agent_config(), dataset.episodes[0].observations.shape[1],
                         dataset.episodes[0].actions.shape[1], obs_mean, obs_std)


def make_optimizer(agent, cfg: TrainConfig):
    """AdamW with a linear warm-up; the fused AdamW, twice as fast as the default on the CPU."""
    optimizer = torch.optim.AdamW(agent.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup_steps))
    return optimizer, scheduler


def make_sampler(dataset, cfg: TrainConfig, seed: int):
    return REGIMES[cfg.context].sampler(dataset.episodes, cfg.batch_size, cfg.context_len, cfg.max_episode_len, seed)


def train_step(agent, optimizer, scheduler, sampler, cfg: TrainConfig, device) -> tuple[torch.Tensor, dict]:
    """One gradient step on the sampler's next batch: (the loss before it, the batch). A
    non-finite loss changes nothing."""
    batch = sampler.sample(device)
    loss, state = agent.loss(**batch)
    if not torch.isfinite(loss):
        return loss, batch
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.grad_clip)
    optimizer.step()
    scheduler.step()
    sampler.carry(state)
    return loss.detach(), batch


def evaluate_agent(agent, cfg: TrainConfig) -> list[dict]:
    agent.eval()
    results = [rollout(agent, cfg.env, cfg.eval_episodes, target, num_envs=cfg.num_envs, seed=cfg.seed)
               for target in env_spec(cfg.env).target_returns]
    agent.train()
    return results


def train(cfg: TrainConfig) -> Path:
    run_dir = cfg.run_dir()
    # no other process writes this run until train returns; an existing run is taken before its checkpoint is read
    held = hold_run(run_dir) if run_dir.is_dir() else None
    checkpoint_path = run_dir / "checkpoint.pt"
    if not cfg.resume and checkpoint_path.exists():
        raise ValueError(f"{run_dir} already holds a run; pass --resume to go on, or --out for a new one")
    checkpoint = resumable_checkpoint(cfg, checkpoint_path) if cfg.resume else None
    if checkpoint is not None and checkpoint["step"] == cfg.steps:
        print(f"{checkpoint_path} already holds all {cfg.steps} steps: nothing to do (a larger --steps goes on)")
        return run_dir
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    dataset = load_dataset(f"{cfg.env}-{cfg.dataset}" if cfg.dataset in DATASETS else cfg.dataset, env=cfg.env)
    if dataset.env != cfg.env:
        raise ValueError(f"dataset {dataset.name!r} belongs to env {dataset.env!r}, not --env {cfg.env!r}")
    data = dataset.identity()
    trained_on = checkpoint and checkpoint.get("data")
    if trained_on and trained_on != data:
        raise ValueError(f"--resume: {checkpoint_path} trained on {trained_on['id']} "
                         f"(sha256 {trained_on['sha256'][:12]}), "
                         f"but --dataset {cfg.dataset} is now {data['id']} (sha256 {data['sha256'][:12]}); "
                         f"allowed: the run's own data. Start a new run with --out")
    # seeded after loading: generating a dataset on first use draws from the global RNGs, and the
    # run must be the same whether its dataset was generated just now or read from the cache
    seed_everything(cfg.seed)
    agent = make_agent(dataset, cfg).to(device)
    optimizer, scheduler = make_optimizer(agent, cfg)
    sampler = make_sampler(dataset, cfg, cfg.seed)
    step = 0
    if checkpoint is not None:
        agent.load_state_dict(checkpoint["agent"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        sampler.load_state_dict(checkpoint.get("sampler") or {"rng": checkpoint["sampler_rng"]})  # older runs: rng only
        torch.set_rng_state(checkpoint["torch_rng"])
        step = checkpoint["step"]
    held = held or hold_run(run_dir)  # a new run's directory: taken as the run starts writing
    with atomic_path(run_dir / "config.json") as tmp:  # only now that the run goes on
        tmp.write_text(json.dumps(asdict(cfg), indent=2))
    print(json.dumps(asdict(cfg)), flush=True)
    print(f"{data['id']}: {len(dataset.episodes)} episodes, {dataset.num_transitions} transitions, "
          f"mean normalized return {dataset.normalized_returns().mean():.1f}; device {device}; "
          f"{sum(p.numel() for p in agent.parameters())} parameters", flush=True)

    def save_checkpoint():
        with atomic_path(checkpoint_path) as tmp:
            torch.save({"agent": agent.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "sampler": sampler.state_dict(),
                        "torch_rng": torch.get_rng_state(), "step": step, "config": asdict(cfg),
                        "obs_dim": agent.obs_dim, "act_dim": agent.act_dim, "dataset": dataset.name, "data": data}, tmp)

    writer = SummaryWriter(str(run_dir / "tb"))
    agent.train()
    progress = tqdm(total=cfg.steps, initial=step, desc=run_dir.name, dynamic_ncols=True, mininterval=2.0)
    tokens, window_start = 0, time.perf_counter()
    while step < cfg.steps:
        loss, batch = train_step(agent, optimizer, scheduler, sampler, cfg, device)
        if not torch.isfinite(loss):
            writer.close()
            progress.close()
            saved = step - step % cfg.checkpoint_every
            raise SystemExit(f"error: loss is {loss.item()} at step {step + 1}; stopping. " + (
                f"The last good checkpoint is {checkpoint_path} (step {saved})." if saved else
                "No checkpoint was written yet.") + " Allowed: a finite loss (a smaller --lr or larger "
                "--return-scale may help)")
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
                append_json_line(run_dir / "eval.jsonl", {"step": step, **result})
                progress.write(f"step {step}: target {target}: return {result['return_mean']:.0f} "
                               f"normalized {result['normalized_mean']:.1f}")
    progress.close()
    writer.close()
    return run_dir


if __name__ == "__main__":
    with expected_errors():
        print(f"run directory: {train(load_config())}")
