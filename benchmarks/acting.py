"""Evaluation throughput: env steps per second of agents acting in gymnasium vector envs.

    python benchmarks/acting.py            # the cpu preset's model size, 10 envs, hopper

Each backbone and regime acts through agents.evaluation.rollout (the path evaluate.py uses) and is
compared with the simulator alone: the same vector env stepped with random actions, so the ratio
is what acting keeps of the simulator's own speed. This machine's speed drifts from minute to
minute by up to 1.5x, so each row alternates `rounds` times between the simulator alone
(one episode's worth of steps) and a rollout of one episode per env, and reports the median of
the rounds' ratios with their range. Untrained agents: the speed of a step
does not depend on the weights, but an untrained hopper falls within some 20 steps, and such
short episodes would make resets far more frequent than in a real evaluation and keep
attention's KV cache short. So the envs do not end episodes on falling (gymnasium's
terminate_when_unhealthy=False, where the env has it): every episode runs its full 1000 steps.
Prints a markdown table; writes JSON to `out`.
"""
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agents.decision import AgentConfig, DecisionAgent  # noqa: E402
from agents.regimes import REGIMES  # noqa: E402
from agents.evaluation import rollout  # noqa: E402
from envs import ENVS, make_env  # noqa: E402
from minrnn import BACKBONES  # noqa: E402
from suite.runutils import POSITIVE, check_choices, expected_errors, one_of, parse_config, write_report  # noqa: E402
from suite.training import PRESETS  # noqa: E402


@dataclass
class ActingBenchConfig:
    env: str = "hopper"
    backbones: str = ",".join(BACKBONES)
    num_envs: int = 10
    rounds: int = 5  # each: the simulator alone, then one full-length episode per env
    threads: int = 1
    out: str = "benchmarks/results"


CHECKS = {"env": one_of(ENVS), **dict.fromkeys(("num_envs", "rounds", "threads"), POSITIVE)}


def full_length_episodes(env: str) -> dict:
    """make_env's kwargs that keep episodes going to the time limit, where the env ends them early."""
    try:
        make_env(env, terminate_when_unhealthy=False)
    except TypeError:  # halfcheetah never ends early and has no such flag
        return {}
    return {"terminate_when_unhealthy": False}


def simulator_steps_per_s(env: str, num_envs: int, env_kwargs: dict, steps: int) -> float:
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
    episode_steps = make_env(cfg.env).spec.max_episode_steps
    rows = []
    for name in cfg.backbones.split(","):
        for regime in REGIMES:
            agent_cfg = AgentConfig(backbone=name, regime=regime, d_model=preset.d_model,
                                    n_layers=preset.n_layers, context_len=preset.context_len)
            torch.manual_seed(0)
            agent = DecisionAgent(agent_cfg, obs_dim, act_dim)
            rounds = []
            for _ in range(cfg.rounds):
                simulator = simulator_steps_per_s(cfg.env, cfg.num_envs, env_kwargs, episode_steps)
                acting = rollout(agent, cfg.env, cfg.num_envs, 3600.0, num_envs=cfg.num_envs,
                                 **env_kwargs)["env_steps_per_s"]
                rounds.append({"simulator_steps_per_s": simulator, "env_steps_per_s": acting,
                               "fraction_of_simulator": acting / simulator})
            fractions = [r["fraction_of_simulator"] for r in rounds]
            rows.append({"backbone": name, "regime": regime, "rounds": rounds,
                         "env_steps_per_s": float(np.median([r["env_steps_per_s"] for r in rounds])),
                         "simulator_steps_per_s": float(np.median([r["simulator_steps_per_s"] for r in rounds])),
                         "fraction_of_simulator": float(np.median(fractions)),
                         "fraction_min": min(fractions), "fraction_max": max(fractions)})
    lines = [f"{cfg.env}, {cfg.num_envs} vector envs, cpu-preset model (d_model {preset.d_model}, "
             f"{preset.n_layers} layers), {cfg.threads} thread(s), episodes of full length "
             f"{env_kwargs or ''}; medians of {cfg.rounds} rounds (simulator alone, then acting)",
             "", "| backbone | regime | env steps/s | simulator alone, steps/s | of the simulator's (range) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['backbone']} | {r['regime']} | {r['env_steps_per_s']:.0f} | {r['simulator_steps_per_s']:.0f} "
              f"| {r['fraction_of_simulator']:.2f} ({r['fraction_min']:.2f}-{r['fraction_max']:.2f}) |" for r in rows]
    print("\n".join(lines))
    result = {"config": asdict(cfg), "rows": rows}
    write_report(cfg.out, "acting", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    config = parse_config(ActingBenchConfig, __doc__, checks=CHECKS)
    with expected_errors():
        check_choices("--backbones", config.backbones.split(","), list(BACKBONES))
    main(config)
