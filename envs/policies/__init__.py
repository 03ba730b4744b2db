"""The shipped behaviour policies: SAC actor checkpoints per env and the manifest that names them.

envs/policies/<env>/manifest.json says which actor is medium, which is expert (with their measured
deterministic returns), and which actors along the run rebuild medium-replay; the actors lie beside
it as actor_<step>.pt (written by envs.policies.actors.save_actor), an expert from another run than the
medium's as expert_actor_<step>.pt. `python -m envs.policies.export RUN` exports them.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from envs.specs import env_spec

POLICIES_DIR = Path(__file__).parent


class NoExpertPolicy(ValueError):
    """An expert dataset asked of an env whose policies hold no expert yet (its SAC run did not get there)."""


@dataclass
class Checkpoint:
    step: int
    return_mean: float  # deterministic return over the run's evaluation episodes
    normalized: float  # the same on D4RL's x100 scale
    sampled_normalized: float | None = None  # with sampled actions, as the datasets act (None: not evaluated)

    @property
    def data_level(self) -> float:
        """The normalized return of the data this policy makes: the sampled one where evaluated."""
        return self.normalized if self.sampled_normalized is None else self.sampled_normalized


def read_evaluations(path: Path) -> dict[int, Checkpoint]:
    """Each checkpoint's evaluation in a SAC run's eval.jsonl (shipped as learning_curve.jsonl); a step
    evaluated twice (a resumed run) keeps its last record."""
    evaluations = {}
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        evaluations[record["step"]] = Checkpoint(record["step"], record["return_mean"], record["normalized"],
                                                 record.get("sampled_normalized"))
    return evaluations


@dataclass
class Manifest:
    env: str
    run: str  # the SAC run directory the actors came from
    learning_starts: int  # the run's uniform-random warm-up steps
    medium: Checkpoint
    expert: Checkpoint | None  # None: the run reached no expert-level checkpoint (envs.policies.export)
    replay_steps: list[int]  # steps of the saved actors before the medium one, in order
    data_version: int = 0  # the version of the datasets built from these policies (minrnn/<env>/<dataset>-v<N>)
    expert_run: str = ""  # the SAC run the expert came from when not `run` (export --expert-run)

    @staticmethod
    def actor_file(step: int) -> str:
        return f"actor_{step:07d}.pt"

    @property
    def expert_source(self) -> str:
        """The SAC run the expert came from: `expert_run`, or `run` when that is empty."""
        return self.expert_run or self.run

    def policy_file(self, level: str) -> str:
        """The actor file of the medium or expert policy; an expert from another run has its own name,
        since its step may be one of `run`'s."""
        checkpoint = getattr(self, level)
        return ("expert_" if level == "expert" and self.expert_run else "") + self.actor_file(checkpoint.step)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        fields = json.loads(text)
        expert = fields["expert"] and Checkpoint(**fields["expert"])
        return cls(**{**fields, "medium": Checkpoint(**fields["medium"]), "expert": expert})


def run_actor(run: str | Path, step: int) -> Path:
    """Where a SAC run directory (envs.train_sac) keeps its actor of `step`."""
    return Path(run) / "actors" / Manifest.actor_file(step)


def saved_actors(run: str | Path) -> dict[int, Path]:
    """The actor checkpoints of a SAC run directory by step."""
    return {int(p.stem.removeprefix("actor_")): p for p in (Path(run) / "actors").glob("actor_*.pt")}


def load_manifest(env: str, policies_dir: str | Path | None = None) -> tuple[Manifest, Path]:
    """The manifest of `env`'s policies in `policies_dir` (default: the shipped ones, POLICIES_DIR)
    and the directory holding its actors."""
    env_spec(env)
    policies_dir = Path(policies_dir or POLICIES_DIR)
    path = policies_dir / env / "manifest.json"
    if not path.exists():
        shipped = sorted(p.parent.name for p in policies_dir.glob("*/manifest.json"))
        raise FileNotFoundError(
            f"no behaviour policies for {env}: {path} is missing (policies exist for: "
            f"{', '.join(shipped) or 'none'}). Train one with `python -m envs.train_sac --env {env}` and "
            f"export it with `python -m envs.policies.export runs/sac/{env}-s0`")
    return Manifest.from_json(path.read_text()), path.parent


# the manifest's policies each non-random dataset acts with (medium-replay: also the actors before medium)
POLICY_LEVELS = {"medium": ["medium"], "expert": ["expert"], "medium-expert": ["medium", "expert"],
                 "medium-replay": ["medium"]}


def data_version(env: str, dataset: str, policies_dir: str | Path | None = None) -> int:
    """The version of the suite dataset `dataset` of `env` built from the policies in `policies_dir`:
    their manifest's data version (random data, built from no policy: 0)."""
    return 0 if dataset == "random" else load_manifest(env, policies_dir)[0].data_version


def policies_used(manifest: Manifest, dataset: str) -> dict:
    """The policies of `manifest` that `dataset` is built from, as it records them (metadata["minrnn"])."""
    used = {"run": manifest.run}
    for level in POLICY_LEVELS[dataset]:
        checkpoint = getattr(manifest, level)  # fields it lacks (None) left out, as manifests before them wrote it
        used[level] = checkpoint and {key: value for key, value in asdict(checkpoint).items() if value is not None}
    if dataset == "medium-replay":
        used.update(replay_steps=manifest.replay_steps, learning_starts=manifest.learning_starts)
    if "expert" in POLICY_LEVELS[dataset] and manifest.expert_run:
        used["expert_run"] = manifest.expert_run
    return used
