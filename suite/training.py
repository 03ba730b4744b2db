"""Training a decision agent: the config and its presets, how a run's config is layered and checked,
one gradient step, the loop with its evaluations and checkpoints, and resuming.

`train(load_config(argv))` is train.py. Precedence of a field's value: the command-line flag, then
configs/<preset>/<env>-<dataset>.json where the reference recipe differs, then the preset.
"""
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from agents.decision import INITS, AgentConfig, DecisionAgent, saved_config
from agents.regimes import REGIMES
from agents.evaluation import rollout
from envs import DATASETS, ENVS, env_spec, load_dataset
from minrnn import BACKBONES, build_backbone, mixer_options
from suite.rundir import load_checkpoint, save_checkpoint
from suite.runutils import (DEVICE, NON_NEGATIVE, POSITIVE, PROBABILITY, SEED, Interrupted, OneLineParser,
                            StopSignals, append_json_line, atomic_path, hold_run, one_of, parse_config, pick_device,
                            refuse_renamed_flags, seed_everything)


@dataclass
class TrainConfig(AgentConfig):
    env: str = "hopper"  # the MuJoCo env the agent acts in
    dataset: str = "medium"  # the offline data: the suite's own (made on first use), D4RL's, Minari's or a file
    preset: str = "cpu"  # the defaults every other field starts from: cpu (minutes on 2 cores), paper (DT's, a GPU)
    seed: int = 0  # seeds torch, numpy and the sampler; evaluations during training use it for the envs too
    steps: int = 3000  # gradient steps in all (a resumed run goes on to this many)
    batch_size: int = 64  # training rows per gradient step
    lr: float = 1e-4  # AdamW's learning rate after the warm-up
    weight_decay: float = 1e-4  # AdamW's weight decay
    warmup_steps: int = 300  # steps of the linear learning-rate warm-up
    grad_clip: float = 0.25  # the gradients' largest norm
    max_episode_len: int = 1000  # episode regime: segments run from t = 0 up to this many steps
    eval_every: int = 1000  # steps between evaluations in the simulator (and one at the last step)
    eval_episodes: int = 10  # episodes per target return in each evaluation
    checkpoint_every: int = 500  # steps between checkpoints (and one at the last step)
    num_envs: int = 10  # vector envs an evaluation runs at once
    threads: int = 0  # torch threads; 0: torch's default
    device: str = "auto"  # where to train (auto: CUDA when present)
    out: str = ""  # the run directory; default runs/<env>-<dataset>-<backbone>-<regime>-s<seed>
    resume: bool = False  # go on from the run directory's checkpoint

    def run_dir(self) -> Path:
        dataset = self.dataset.replace(":", "-").replace("/", "-")
        return Path(self.out or f"runs/{self.env}-{dataset}-{self.backbone}-{self.regime}-s{self.seed}")

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
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


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
    "regime": one_of(REGIMES),
    "init": one_of(INITS),
    "device": DEVICE,
    "preset": one_of(PRESETS),
}
# what a resumed run must keep: the fields that shape the model, the data or the sampler's stream
RUN_SHAPING = ("env", "dataset", "seed", "backbone", "regime", "context_len", "d_model", "n_layers", "n_heads",
               "max_timestep", "return_scale", "init", "max_episode_len", "batch_size")
RENAMED_FLAGS = {"--context": "--regime"}  # flags of earlier versions, answered with their new name


def json_value_fits(value, default) -> bool:
    """Whether a config file's JSON value can stand for a field whose default is `default`
    (a whole number for a float, never true/false for a number)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def check_backbone_options(cfg: TrainConfig) -> None:
    """The backbone's mixer checks the options it takes (attention: n_heads divides d_model)."""
    options = {name: getattr(cfg, name) for name in mixer_options(cfg.backbone) & {f.name for f in fields(cfg)}}
    try:
        with torch.random.fork_rng():  # building draws initial weights: the run's RNG stays as it was
            build_backbone(cfg.backbone, d_model=cfg.d_model, n_layers=1, **options)
    except ValueError as error:  # the mixer names its options as fields: say them as flags
        flags = re.sub(r"\b(" + "|".join(f.name for f in fields(cfg)) + r")\b",
                       lambda match: "--" + match.group(1).replace("_", "-"), str(error))
        raise SystemExit(f"error: {flags}") from None


def load_config(argv=None, doc: str = "") -> TrainConfig:
    """The preset, then its per env-dataset config file, then the command-line flags, checked."""
    refuse_renamed_flags(sys.argv[1:] if argv is None else argv, RENAMED_FLAGS)
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
    cfg = parse_config(TrainConfig, doc, argv, defaults=defaults, checks=CHECKS)
    check_backbone_options(cfg)
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
    return REGIMES[cfg.regime].sampler(dataset.episodes, cfg.batch_size, cfg.context_len, cfg.max_episode_len, seed)


def train_step(agent, optimizer, scheduler, sampler, cfg: TrainConfig, device, carried=None):
    """One gradient step on the sampler's next batch, which continues from `carried` (the state the
    previous batch ended with, for the regimes whose rows go on): (the loss before the step, the batch,
    what the next batch continues from). A non-finite loss changes nothing."""
    batch = sampler.sample(device, carried)
    loss, state = agent.loss(**batch)
    if not torch.isfinite(loss):
        return loss, batch, carried
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.grad_clip)
    optimizer.step()
    scheduler.step()
    return loss.detach(), batch, sampler.carried(state)


def evaluate_agent(agent, cfg: TrainConfig) -> list[dict]:
    agent.eval()
    results = [rollout(agent, cfg.env, cfg.eval_episodes, target, num_envs=cfg.num_envs, seed=cfg.seed)
               for target in env_spec(cfg.env).target_returns]
    agent.train()
    return results


class Run:
    """A run in progress: the agent and everything a checkpoint holds, with the run directory's logs."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, dataset, data: dict, device, checkpoint: dict | None):
        self.cfg, self.run_dir, self.device = cfg, run_dir, device
        self.checkpoint_path = run_dir / "checkpoint.pt"
        self.dataset_name, self.data = dataset.name, data
        self.agent = make_agent(dataset, cfg).to(device)
        self.optimizer, self.scheduler = make_optimizer(self.agent, cfg)
        self.sampler = make_sampler(dataset, cfg, cfg.seed)
        self.step, self.carried, self.evaluation_pending = 0, None, False
        if checkpoint is not None:
            self.agent.load_state_dict(checkpoint["agent"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.scheduler.load_state_dict(checkpoint["scheduler"])
            saved_sampler = checkpoint.get("sampler") or {"rng": checkpoint["sampler_rng"]}  # older runs: rng only
            self.sampler.load_state_dict(saved_sampler)
            # older stream runs kept the carried state in the sampler's
            self.carried = checkpoint["carried_state"] if "carried_state" in checkpoint else saved_sampler.get("state")
            torch.set_rng_state(checkpoint["torch_rng"])
            self.step, self.evaluation_pending = checkpoint["step"], checkpoint.get("evaluation_pending", False)

    def save(self) -> None:
        save_checkpoint(self.checkpoint_path, {
            "agent": self.agent.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "sampler": self.sampler.state_dict(),
            "carried_state": self.carried, "torch_rng": torch.get_rng_state(), "step": self.step,
            "evaluation_pending": self.evaluation_pending, "config": asdict(self.cfg), "obs_dim": self.agent.obs_dim,
            "act_dim": self.agent.act_dim, "dataset": self.dataset_name, "data": self.data})

    def evaluate(self, writer, progress, signals: StopSignals) -> None:
        """Evaluate at this step; SIGTERM or SIGINT abandon it at once, and the checkpoint then says it is
        pending, so that the resumed run makes it."""
        self.evaluation_pending, signals.urgent = True, True
        try:
            if signals.received:
                raise signals.interrupted()
            for result in evaluate_agent(self.agent, self.cfg):
                target = int(result["target_return"])
                writer.add_scalar(f"eval/return_{target}", result["return_mean"], self.step)
                writer.add_scalar(f"eval/normalized_return_{target}", result["normalized_mean"], self.step)
                append_json_line(self.run_dir / "eval.jsonl", {"step": self.step, **result})
                progress.write(f"step {self.step}: target {target}: return {result['return_mean']:.0f} "
                               f"normalized {result['normalized_mean']:.1f}")
            self.evaluation_pending = False
        finally:
            signals.urgent = False

    def train(self, writer, progress, signals: StopSignals) -> None:
        cfg = self.cfg
        if self.evaluation_pending:  # the evaluation an interruption cut short
            self.evaluate(writer, progress, signals)
        tokens, window_start = 0, time.perf_counter()
        while self.step < cfg.steps:
            loss, batch, self.carried = train_step(self.agent, self.optimizer, self.scheduler, self.sampler, cfg,
                                                   self.device, self.carried)
            if not torch.isfinite(loss):
                saved = self.step - self.step % cfg.checkpoint_every
                raise SystemExit(f"error: loss is {loss.item()} at step {self.step + 1}; stopping. " + (
                    f"The last good checkpoint is {self.checkpoint_path} (step {saved})." if saved else
                    "No checkpoint was written yet.") + " Allowed: a finite loss (a smaller --lr or larger "
                    "--return-scale may help)")
            self.step += 1
            tokens += 3 * int(batch["mask"].sum())
            progress.update(1)
            if self.step % 50 == 0:
                elapsed = time.perf_counter() - window_start
                writer.add_scalar("train/loss", loss.item(), self.step)
                writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.step)
                writer.add_scalar("train/tokens_per_s", tokens / elapsed, self.step)
                progress.set_postfix(loss=f"{loss.item():.4f}")
                tokens, window_start = 0, time.perf_counter()
            saved = self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps
            if saved:
                self.save()
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                self.evaluate(writer, progress, signals)
            if signals.received and self.step < cfg.steps:
                if not saved:
                    self.save()
                raise signals.interrupted()


def drop_evaluations_after(path: Path, step: int, including: bool) -> None:
    """A resumed run's eval.jsonl without the evaluations made after its checkpoint's step (and that step's,
    when `including`: an evaluation that an interruption cut short), so that each is recorded once."""
    if not path.exists():
        return
    last_kept = step - 1 if including else step
    kept = [line for line in path.read_text().splitlines(keepends=True) if json.loads(line)["step"] <= last_kept]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(kept))


def train(cfg: TrainConfig) -> Path:
    """Train (or, with cfg.resume, go on with) the run in cfg.run_dir() until cfg.steps.

    SIGTERM or SIGINT stop it after the step in hand, which is checkpointed (an evaluation in hand is
    abandoned and made on resuming): `Interrupted` names the step and the checkpoint. A resumed run
    drops what its logs recorded after its checkpoint, so that each evaluation appears once."""
    run_dir = cfg.run_dir()
    # no other process writes this run until train returns; an existing run is taken before its checkpoint is read
    held = hold_run(run_dir) if run_dir.is_dir() else None
    checkpoint_path = run_dir / "checkpoint.pt"
    if not cfg.resume and checkpoint_path.exists():
        raise ValueError(f"{run_dir} already holds a run; pass --resume to go on, or --out for a new one")
    checkpoint = resumable_checkpoint(cfg, checkpoint_path) if cfg.resume else None
    if checkpoint is not None and checkpoint["step"] == cfg.steps and not checkpoint.get("evaluation_pending"):
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
    run = Run(cfg, run_dir, dataset, data, device, checkpoint)
    held = held or hold_run(run_dir)  # a new run's directory: taken as the run starts writing
    if checkpoint is not None:
        drop_evaluations_after(run_dir / "eval.jsonl", run.step, including=run.evaluation_pending)
    with atomic_path(run_dir / "config.json") as tmp:  # only now that the run goes on
        tmp.write_text(json.dumps(asdict(cfg), indent=2))
    print(json.dumps(asdict(cfg)), flush=True)
    print(f"{data['id']}: {len(dataset.episodes)} episodes, {dataset.num_transitions} transitions, "
          f"mean normalized return {dataset.normalized_returns().mean():.1f}; device {device}; "
          f"{sum(p.numel() for p in run.agent.parameters())} parameters", flush=True)
    # tensorboard drops the events a resumed run logged after its checkpoint (those of its step too when
    # that step's evaluation was cut short)
    purge_step = run.step + (not run.evaluation_pending) if checkpoint is not None else None
    writer = SummaryWriter(str(run_dir / "tb"), purge_step=purge_step)
    run.agent.train()
    progress = tqdm(total=cfg.steps, initial=run.step, desc=run_dir.name, dynamic_ncols=True, mininterval=2.0)
    try:
        with StopSignals() as signals:
            run.train(writer, progress, signals)
    except Interrupted as interrupted:
        if run.evaluation_pending:
            run.save()
        raise Interrupted(f"{interrupted} at step {run.step}; {checkpoint_path} holds it"
                          f"{' (its evaluation is made on resuming)' if run.evaluation_pending else ''}. Go on "
                          f"with --resume", interrupted.signum) from None
    finally:
        progress.close()
        writer.close()
    return run_dir
