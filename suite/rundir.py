"""A run directory: what training writes and every other command reads back.

    RUN/config.json      the run's TrainConfig, written when the run starts or goes on
    RUN/checkpoint.pt    everything a run resumes from and an agent is rebuilt from (`save_checkpoint`)
    RUN/eval.jsonl       one line per evaluation during training
    RUN/tb/              tensorboard logs: training loss, learning rate, evaluations
    RUN/evaluate.json    evaluate.py --json after training (a sweep writes it there)

A sweep keeps one record per finished run (`read_result`). Runs saved before `regime` was called
`context` load as they are (agents.decision.saved_config renames it).
"""
import json
from pathlib import Path

import torch

from agents.decision import AgentConfig, DecisionAgent, saved_config
from agents.policy import DecisionPolicy
from envs.specs import env_spec
from suite.runutils import atomic_path, no_space

# what every checkpoint.pt holds (later ones add more: the dataset, the sampler's state, the carried state)
CHECKPOINT_KEYS = ("agent", "optimizer", "scheduler", "torch_rng", "step", "config", "obs_dim", "act_dim")


def checkpoint_file(path) -> Path:
    """The checkpoint a command is given: RUN_DIR/checkpoint.pt for a run directory, else the path itself."""
    path = Path(path)
    return path / "checkpoint.pt" if path.is_dir() else path


def save_checkpoint(path: Path, checkpoint: dict) -> None:
    """Write `checkpoint` (CHECKPOINT_KEYS and more) atomically: an interruption or a full disk leaves the
    previous one (a full disk: an OSError naming the path, suite.runutils.no_space)."""
    with atomic_path(path) as tmp:
        try:
            torch.save(checkpoint, tmp)
        except RuntimeError as error:  # torch's zip writer reports a failed write without an errno
            if "inline_container" not in str(error) and "write" not in str(error):
                raise
            raise no_space(path, error) from None


def load_checkpoint(path: Path) -> dict:
    """A checkpoint train.py wrote, on the CPU; a missing, truncated or foreign file is named, with what was expected."""
    expected = f"a torch checkpoint written by train.py, a dict with keys {', '.join(CHECKPOINT_KEYS)}"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: give a run directory that train.py wrote "
                                f"checkpoint.pt into, or the checkpoint file itself")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # the zip reader, the unpickler and EOF each raise their own kind
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"cannot read {path}: truncated or not a checkpoint ({reason}); expected {expected}") from error
    if not isinstance(checkpoint, dict) or not set(CHECKPOINT_KEYS) <= checkpoint.keys():
        holds = f"keys {', '.join(map(str, checkpoint))}" if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{path} is not a train.py checkpoint (it holds {holds}); expected {expected}")
    return checkpoint


def load_agent(path, device="cpu") -> tuple[DecisionAgent, dict]:
    """The agent saved in a run directory's checkpoint.pt or a checkpoint file, in eval mode, and the run's config."""
    path = checkpoint_file(path)
    checkpoint = load_checkpoint(path)
    config = saved_config(checkpoint["config"])
    missing = [name for name in AgentConfig.__dataclass_fields__ if name not in config]
    if missing:
        raise ValueError(f"{path}: its config lacks the agent field(s) {', '.join(missing)}; expected a checkpoint "
                         f"written by train.py, whose config has every field of AgentConfig")
    agent_config = AgentConfig(**{k: config[k] for k in AgentConfig.__dataclass_fields__})
    agent = DecisionAgent(agent_config, checkpoint["obs_dim"], checkpoint["act_dim"])
    try:
        agent.load_state_dict(checkpoint["agent"])
    except RuntimeError as error:  # weights of another architecture than its config describes
        raise ValueError(f"{path}: its weights do not fit the agent its config describes "
                         f"({str(error).splitlines()[0]}); was it written by another version of train.py?") from error
    return agent.to(device).eval(), config


def load_policy(path, target_return: float | None = None, device="cpu") -> DecisionPolicy:
    """The agent of a run directory (or checkpoint file) as a policy; the target return defaults to
    its env's first Decision Transformer target (hopper: 3600)."""
    agent, config = load_agent(path, device)
    target = env_spec(config["env"]).target_returns[0] if target_return is None else target_return
    return DecisionPolicy(agent, config["env"], target)


def read_curves(tb_dir: Path) -> dict[str, list[list[float]]]:
    """[step, value] pairs of the eval normalized returns and the training loss in a run's tensorboard logs.

    A resumed run rewrites the steps after its last checkpoint into a new event file; the later value wins.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0}).Reload()
    curves = {}
    for tag in events.Tags()["scalars"]:
        if tag.startswith("eval/normalized_return_") or tag == "train/loss":
            by_step = {event.step: event.value for event in events.Scalars(tag)}
            curves[tag] = [[step, by_step[step]] for step in sorted(by_step)]
    return curves


def read_result(run_dir: Path, evaluation: str = "evaluate.json", target_sweep: str | None = None) -> dict:
    """A finished run's one record: its config (as saved_config reads it), the evaluation after training
    (`evaluation`, evaluate.py's JSON in the run directory), the return-conditioning sweep's when
    `target_sweep` names its JSON, the learning curves and the data it trained on."""
    run_dir = Path(run_dir)
    config = saved_config(json.loads((run_dir / "config.json").read_text()))
    result = {"train_config": config, "evaluation": json.loads((run_dir / evaluation).read_text()),
              "curves": read_curves(run_dir / "tb"), "data": load_checkpoint(run_dir / "checkpoint.pt").get("data")}
    if target_sweep:
        result["target_sweep"] = json.loads((run_dir / target_sweep).read_text())
    return result
