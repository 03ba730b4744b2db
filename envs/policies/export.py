"""Export behaviour policies from a SAC run (envs.train_sac) into envs/policies/<env>/.

    python -m envs.policies.export runs/sac/hopper-s0                # medium and expert picked automatically
    python -m envs.policies.export runs/sac/hopper-s0 --medium-step 130000 --expert-step 290000
    python -m envs.policies.export runs/sac/halfcheetah-s2 --expert-run runs/sac/halfcheetah-s1  # expert from another run

Automatic choice, from the run's eval.jsonl: medium = the checkpoint whose data level (the
normalized return with sampled actions, as the datasets act; the deterministic one for runs that did
not record it) is closest to medium_target, D4RL's medium dataset mean for the env (envs.specs.D4RL_STATS),
within medium_tolerance of it, taken only from the run before it first scored above that band in two
evaluations in a row: a run that has passed the band and later collapses into it for one evaluation
(walker2d's falls) is not a policy stopped early, while one evaluation above it may be noise (over 10
episodes hopper seed 1's sampled returns have a standard deviation up to 650, 20 normalized points).
Among those, checkpoints whose step (the length of medium-replay, the replay up to medium) lies
within replay_tolerance of D4RL's medium-replay transition count come first; when none does, the
nearest in level is taken and the export says how far medium-replay's size is off.
Expert = the checkpoint with the best data level, if that reaches --min-expert-score: the expert
datasets act with sampled actions too, and early in a run the sampled return lies far below the
deterministic one (hopper seed 1 at 180k steps: 85 deterministic, 41 sampled). When no checkpoint
does (a run not trained long enough yet), the export ships no expert (manifest "expert": null, and
the expert datasets say so) rather than a weaker policy under that name. A --expert-step below the
threshold, or a medium not worse than the expert, is refused.
Copies the medium, expert and every earlier actor (for medium-replay), the run's eval.jsonl as
learning_curve.jsonl, and writes manifest.json with the data version of the datasets built from them
(minrnn/<env>/<dataset>-v<N>): by default one more than the manifest it replaces, so the datasets of
the old policies, and the results made on them, stay what they were.
--expert-run takes the expert from another run of the same env (by the same rule, or --expert-step):
for a medium from a run slowed to give medium-replay D4RL's size (envs.train_sac --train-freq 2) and
an expert from a faster one; its actor ships as expert_actor_<step>.pt, its curve as
expert_learning_curve.jsonl.
"""
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from envs.policies import POLICIES_DIR, Checkpoint, Manifest, read_evaluations, run_actor, saved_actors
from envs.specs import D4RL_STATS
from suite.runutils import NON_NEGATIVE, POSITIVE, atomic_path, expected_errors, parse_config


@dataclass
class ExportConfig:
    run: str = ""  # SAC run directory (with config.json, eval.jsonl, actors/)
    medium_step: int = 0  # 0: automatic
    expert_step: int = 0  # 0: the checkpoint with the best data level
    expert_run: str = ""  # take the expert from this SAC run of the same env instead; "": from run
    medium_target: float = 0.0  # D4RL-normalized data level of medium; 0: D4RL's medium mean for the env
    medium_tolerance: float = 5.0  # the automatic medium lies within this of medium_target
    replay_tolerance: float = 0.25  # preferred: medium's step within this fraction of D4RL's medium-replay size
    min_expert_score: float = 80.0  # D4RL-normalized data level an expert must reach
    data_version: int = -1  # of the datasets built from the export; -1: one more than the manifest it replaces
    out: str = ""  # default: envs/policies/<env>


CHECKS = {**dict.fromkeys(("medium_step", "expert_step", "medium_target", "replay_tolerance"), NON_NEGATIVE),
          "medium_tolerance": POSITIVE, "min_expert_score": (math.isfinite, "a finite number"),
          "data_version": (lambda v: v >= -1, ">= 0, or -1: one more than the manifest it replaces")}


def medium_replay_size(env: str) -> int:
    """D4RL's medium-replay transition count for env: what the replay up to medium should hold."""
    return D4RL_STATS[f"{env}-medium-replay"].transitions


def pick_checkpoints(cfg: ExportConfig, env: str, evaluations: dict[int, Checkpoint],
                     expert_evaluations: dict[int, Checkpoint] | None = None) -> tuple[Checkpoint, Checkpoint | None]:
    """Medium from `evaluations`, expert from `expert_evaluations` (those of --expert-run; default: the same)."""
    expert_evaluations = evaluations if expert_evaluations is None else expert_evaluations

    def evaluated(step: int, run: str, evaluations: dict[int, Checkpoint]) -> Checkpoint:
        if step not in evaluations:
            raise ValueError(f"step {step} has no evaluation in {run}/eval.jsonl; "
                             f"evaluated steps: {', '.join(map(str, sorted(evaluations)))}")
        return evaluations[step]

    target = cfg.medium_target or D4RL_STATS[f"{env}-medium"].mean_normalized
    low, high = target - cfg.medium_tolerance, target + cfg.medium_tolerance
    steps = sorted(evaluations)
    above = [evaluations[step].data_level > high for step in steps]
    passed = next((step for step, now, then in zip(steps, above, above[1:]) if now and then), None)
    in_band = [evaluations[step] for step in steps
               if low <= evaluations[step].data_level <= high and (passed is None or step < passed)]
    if not cfg.medium_step and not in_band:
        scores = ", ".join(f"{step}: {evaluations[step].data_level:.1f}" for step in steps)
        raise ValueError(f"no checkpoint of {cfg.run} scores within [{low:.1f}, {high:.1f}] "
                         f"before it first scored above {high:.1f} twice in a row, for medium (data levels: "
                         f"{scores}); train longer or pass --medium-step")
    replay_size = medium_replay_size(env)
    sized = [c for c in in_band if abs(c.step - replay_size) <= cfg.replay_tolerance * replay_size]
    medium = evaluated(cfg.medium_step, cfg.run, evaluations) if cfg.medium_step else min(
        sized or in_band, key=lambda c: abs(c.data_level - target))
    expert = (evaluated(cfg.expert_step, cfg.expert_run or cfg.run, expert_evaluations) if cfg.expert_step
              else max(expert_evaluations.values(), key=lambda c: c.data_level))
    if expert.data_level < cfg.min_expert_score:
        if not cfg.expert_step:
            return medium, None
        raise ValueError(f"expert candidate (step {expert.step}) has data level {expert.data_level:.1f} < "
                         f"--min-expert-score {cfg.min_expert_score}: not an expert; train longer")
    if medium.data_level >= expert.data_level:
        raise ValueError(f"medium (step {medium.step}, data level {medium.data_level:.1f}) is not worse than "
                         f"expert (step {expert.step}, data level {expert.data_level:.1f})")
    return medium, expert


def write_policies(out: Path, manifest: Manifest) -> None:
    """Replace `out` whole with the manifest and the actors it names, so no older actor lingers; an expert
    from another run comes with that run's learning curve too."""
    files = {Manifest.actor_file(step): run_actor(manifest.run, step)
             for step in [*manifest.replay_steps, manifest.medium.step]}
    curves = {"learning_curve.jsonl": Path(manifest.run) / "eval.jsonl"}
    if manifest.expert:
        files[manifest.policy_file("expert")] = run_actor(manifest.expert_source, manifest.expert.step)
        if manifest.expert_run:
            curves["expert_learning_curve.jsonl"] = Path(manifest.expert_run) / "eval.jsonl"
    missing = sorted(str(source) for source in files.values() if not source.exists())
    if missing:
        raise FileNotFoundError(f"no actor file {', '.join(missing)}")
    with atomic_path(out) as tmp:
        tmp.mkdir()
        for name, source in {**files, **curves}.items():
            shutil.copyfile(source, tmp / name)
        (tmp / "manifest.json").write_text(manifest.to_json())
        if out.exists():
            shutil.rmtree(out)


def export(cfg: ExportConfig) -> Path:
    run_dir = Path(cfg.run)
    run_config = json.loads((run_dir / "config.json").read_text())
    evaluations = read_evaluations(run_dir / "eval.jsonl")
    expert_evaluations = None
    if cfg.expert_run:
        expert_env = json.loads((Path(cfg.expert_run) / "config.json").read_text())["env"]
        if expert_env != run_config["env"]:
            raise ValueError(f"--expert-run {cfg.expert_run} is a {expert_env} run; allowed: a run of "
                             f"{run_config['env']}, the env of {cfg.run}")
        expert_evaluations = read_evaluations(Path(cfg.expert_run) / "eval.jsonl")
    medium, expert = pick_checkpoints(cfg, run_config["env"], evaluations, expert_evaluations)
    actors = saved_actors(run_dir)
    out = Path(cfg.out or POLICIES_DIR / run_config["env"])
    replaced = out / "manifest.json"
    version = cfg.data_version if cfg.data_version >= 0 else (
        Manifest.from_json(replaced.read_text()).data_version + 1 if replaced.exists() else 0)
    manifest = Manifest(env=run_config["env"], run=str(run_dir), learning_starts=run_config["learning_starts"],
                        medium=medium, expert=expert,
                        replay_steps=sorted(step for step in actors if step < medium.step), data_version=version,
                        expert_run=cfg.expert_run if expert else "")
    write_policies(out, manifest)
    size_mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    replay_size = medium_replay_size(run_config["env"])
    best = max((expert_evaluations or evaluations).values(), key=lambda c: c.data_level)
    expert_text = (f"expert step {expert.step}{' of ' + cfg.expert_run if cfg.expert_run else ''} "
                   f"({expert.normalized:.1f}, data level {expert.data_level:.1f})" if expert
                   else f"no expert (best data level: step {best.step}, {best.data_level:.1f} < {cfg.min_expert_score})")
    print(f"exported {run_dir} to {out} (data version {version}): medium step {medium.step} ({medium.normalized:.1f}, data level "
          f"{medium.data_level:.1f}), {expert_text}, "
          f"{len(manifest.replay_steps)} replay actors, {size_mb:.1f} MB; medium-replay will hold {medium.step:,} "
          f"transitions, {100 * (medium.step / replay_size - 1):+.0f}% of D4RL's {replay_size:,}")
    return out


if __name__ == "__main__":
    with expected_errors():
        export(parse_config(ExportConfig, __doc__, positional=("run",), checks=CHECKS))
