"""What the stream regime loses by carrying a state made with older weights.

    python benchmarks/stale_state.py                                  # every backbone, hopper-medium
    python benchmarks/stale_state.py --backbones mingru --dataset medium-replay --steps 1000

A stream row walks an episode in K-step chunks, and the state it starts a chunk from was computed
chunk by chunk, each chunk with the weights of the step that trained on it (and dropout on): the
older the chunk, the older the weights. Acting carries a state made with the final weights from t = 0. A burn-in
(re-running the previous steps without gradient, as recurrent replay agents do) moves training's
state towards acting's. This measures whether that could pay: it trains a stream agent with
train.py's own step and every `every` steps scores the batch about to be trained on (dropout off,
no gradient) three ways, over the rows that continue an episode:
  carried  from the state the sampler carried (what training uses),
  fresh    from the state recomputed from t = 0 with the current weights (what acting carries,
           and the most a burn-in could reach),
  zero     from a zero state (what carrying the state is worth at all).
If carried and fresh score alike, a burn-in has nothing to recover. Writes markdown and JSON to `out`.
"""
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from suite import training  # noqa: E402
from envs import DATASETS, ENVS, load_dataset  # noqa: E402
from minrnn import BACKBONES, Backbone  # noqa: E402
from suite.runutils import (POSITIVE, SEED, check_choices, expected_errors, one_of, parse_config,  # noqa: E402
                            seed_everything, write_report)


@dataclass
class StaleStateConfig:
    backbones: str = "mingru,minlstm,mamba,attention"
    preset: str = "cpu"
    env: str = "hopper"
    dataset: str = "medium"
    steps: int = 2000
    every: int = 200
    seed: int = 0
    threads: int = 1
    out: str = "benchmarks/results"


CHECKS = {"preset": one_of(training.PRESETS), "env": one_of(ENVS), "dataset": one_of(DATASETS), "seed": SEED,
          **dict.fromkeys(("steps", "every", "threads"), POSITIVE)}


def fresh_state(agent, sampler, carried):
    """The state each row would start its chunk from had the current weights made it from t = 0."""
    data, length = sampler.data, sampler.segment_len
    state = [tuple(t.clone() for t in layer) for layer in carried]
    for row, (episode, start) in enumerate(zip(sampler.episode, sampler.offset - length)):
        if start == 0:
            continue
        prefix = data.gather(np.array([episode]), np.array([0]), int(start), "cpu")
        _, row_state = agent(prefix["returns_to_go"], prefix["observations"], prefix["actions"], prefix["timesteps"])
        for layer, row_layer in zip(state, row_state):
            for t, row_t in zip(layer, row_layer):
                t[row] = row_t[0]
    return state


@torch.no_grad()
def score(agent, sampler, batch) -> dict | None:
    """Loss of the batch over its continuing rows from the carried, fresh and zero state."""
    continuing = torch.as_tensor(sampler.offset - sampler.segment_len > 0)
    if "state" not in batch or not continuing.any():
        return None
    agent.eval()
    tokens = {k: batch[k] for k in ("returns_to_go", "observations", "actions", "timesteps")}
    mask = batch["mask"] * continuing[:, None]
    states = {"carried": batch["state"], "fresh": fresh_state(agent, sampler, batch["state"]),
              "zero": Backbone.reset_state(batch["state"], torch.ones_like(continuing))}
    losses = {name: agent.loss(**tokens, mask=mask, state=state)[0].item() for name, state in states.items()}
    agent.train()
    return {**losses, "continuing_rows": int(continuing.sum())}


def run(cfg: StaleStateConfig, backbone: str) -> dict:
    run_cfg = training.load_config(["--preset", cfg.preset, "--env", cfg.env, "--dataset", cfg.dataset,
                                    "--backbone", backbone, "--regime", "stream", "--seed", str(cfg.seed)])
    dataset = load_dataset(f"{run_cfg.env}-{run_cfg.dataset}", env=run_cfg.env)
    seed_everything(run_cfg.seed)
    agent = training.make_agent(dataset, run_cfg)
    optimizer, scheduler = training.make_optimizer(agent, run_cfg)
    sampler = training.make_sampler(dataset, run_cfg, run_cfg.seed)
    points, carried = [], None
    for step in range(1, cfg.steps + 1):
        _, batch, carried = training.train_step(agent, optimizer, scheduler, sampler, run_cfg, "cpu", carried)
        if step % cfg.every == 0:
            # the batch just trained on was sampled before this step; score the next one, untrained
            peek = sampler.state_dict()
            upcoming = sampler.sample("cpu", carried)
            point = score(agent, sampler, upcoming)
            sampler.load_state_dict(peek)
            if point:
                points.append({"step": step, **point})
                print(f"{backbone} step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in point.items()
                                                            if k != "continuing_rows"), flush=True)
    mean = {name: float(np.mean([p[name] for p in points])) for name in ("carried", "fresh", "zero")}
    return {"backbone": backbone, "points": points, "mean": mean,
            "carried_over_fresh": mean["carried"] / mean["fresh"], "zero_over_fresh": mean["zero"] / mean["fresh"],
            "dataset": dataset.identity()["id"], "mean_episode_len": float(np.mean(sampler.data.lengths))}


def main(cfg: StaleStateConfig) -> None:
    torch.set_num_threads(cfg.threads)
    started = time.time()
    results = [run(cfg, backbone) for backbone in cfg.backbones.split(",")]
    command = f"python benchmarks/stale_state.py --backbones {cfg.backbones} --dataset {cfg.dataset} " \
              f"--steps {cfg.steps} --every {cfg.every}"
    lines = [f"Stream regime, {cfg.preset} preset, {cfg.env}-{cfg.dataset} ({results[0]['dataset']}, mean episode "
             f"{results[0]['mean_episode_len']:.0f} steps), seed {cfg.seed}: the loss of the next batch's continuing "
             f"rows every {cfg.every} of {cfg.steps} steps, averaged; {platform.processor() or platform.machine()}.", "",
             f"`{command}`", "",
             "| backbone | carried | fresh (from t = 0, current weights) | zero state | carried / fresh | zero / fresh |",
             "|---|---|---|---|---|---|"]
    for r in results:
        m = r["mean"]
        lines.append(f"| {r['backbone']} | {m['carried']:.4f} | {m['fresh']:.4f} | {m['zero']:.4f} | "
                     f"{r['carried_over_fresh']:.3f} | {r['zero_over_fresh']:.3f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    write_report(cfg.out, f"stale-state-{cfg.env}-{cfg.dataset}",
                 {"config": asdict(cfg), "command": command, "results": results, "wall_s": time.time() - started}, table)


if __name__ == "__main__":
    config = parse_config(StaleStateConfig, __doc__, checks=CHECKS)
    with expected_errors():
        check_choices("--backbones", config.backbones.split(","), list(BACKBONES))
    main(config)
