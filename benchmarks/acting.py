"""Evaluation throughput: env steps per second of agents acting in gymnasium vector envs.

    python benchmarks/acting.py            # the cpu preset's model size, 10 envs, hopper

Each backbone and regime acts through agents.rollout.rollout (the path evaluate.py uses) and is
compared with the simulator alone: the same vector env stepped with random actions, so the
ratio is what acting keeps of the simulator's own speed. Untrained agents: the speed of a step
does not depend on the weights, but an untrained hopper falls within some 20 steps, and such
short episodes would make resets far more frequent than in a real evaluation and keep
attention's KV cache short. So the envs do not end episodes on falling (gymnasium's
terminate_when_unhealthy=False, where the env has it): every episode runs its full 1000 steps.
Prints a markdown table; writes JSON to `out`.
"""
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agents.decision import CONTEXTS, AgentConfig, DecisionAgent  # noqa: E402
from agents.rollout import rollout  # noqa: E402
from envs import make_env  # noqa: E402
from minrnn import BACKBONES  # noqa: E402
from runutils import parse_config  # noqa: E402
from train import PRESETS  # noqa: E402


@dataclass
class ActingBenchConfig:
    env: str = "hopper"
    backbones: str = ",".join(BACKBONES)
    num_envs: int = 10
    episodes: int = 20
    threads: int = 1
    out: str = "benchmarks/results"


def full_length_episodes(env: str) -> dict:
    """make_env's kwargs that keep episodes going to the time limit, where the env ends them early."""
    try:
        make_env(env, terminate_when_unhealthy=False)
    except TypeError:  # halfcheetah never ends early and has no such flag
        return {}
    return {"terminate_when_unhealthy": False}


def simulator_steps_per_s(env: str, num_envs: int, env_kwargs: dict, steps: int = 2000) -> float:
    vec_env = SyncVectorEnv([lambda: make_env(env, **env_kwargs)] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    vec_env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, *vec_env.action_space.shape)).astype(np.float32)
    start = time.perf_counter()
    for action in actions:
        vec_env.step(action)
    vec_env.close()
    return steps * num_envs / (time.perf_counter() - start)


def main(cfg: ActingBenchConfig) -> dict:
    torch.set_num_threads(cfg.threads)
    spaces = make_env(cfg.env)
    obs_dim, act_dim = spaces.observation_space.shape[0], spaces.action_space.shape[0]
    preset = PRESETS["cpu"]
    env_kwargs = full_length_episodes(cfg.env)
    simulator = simulator_steps_per_s(cfg.env, cfg.num_envs, env_kwargs)
    rows = []
    for name in cfg.backbones.split(","):
        for context in CONTEXTS:
            agent_cfg = AgentConfig(backbone=name, context=context, d_model=preset.d_model,
                                    n_layers=preset.n_layers, context_len=preset.context_len)
            torch.manual_seed(0)
            agent = DecisionAgent(agent_cfg, obs_dim, act_dim)
            result = rollout(agent, cfg.env, cfg.episodes, 3600.0, num_envs=cfg.num_envs, **env_kwargs)
            rows.append({"backbone": name, "context": context, "env_steps_per_s": result["env_steps_per_s"],
                         "length_mean": result["length_mean"],
                         "fraction_of_simulator": result["env_steps_per_s"] / simulator})
    lines = [f"{cfg.env}, {cfg.num_envs} vector envs, cpu-preset model (d_model {preset.d_model}, "
             f"{preset.n_layers} layers), {cfg.threads} thread(s), {cfg.episodes} episodes of full length "
             f"{env_kwargs or ''}; the simulator alone: {simulator:.0f} steps/s",
             "", "| backbone | context | env steps/s | of the simulator's |", "|---|---|---|---|"]
    lines += [f"| {r['backbone']} | {r['context']} | {r['env_steps_per_s']:.0f} | {r['fraction_of_simulator']:.2f} |"
              for r in rows]
    print("\n".join(lines))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"config": asdict(cfg), "simulator_steps_per_s": simulator, "rows": rows}
    (out / "acting.json").write_text(json.dumps(result, indent=2))
    (out / "acting.md").write_text("\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main(parse_config(ActingBenchConfig, __doc__))
