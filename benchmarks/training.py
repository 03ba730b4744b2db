"""The real training step per backbone and regime: ms/step, steps/s and peak memory.

    python benchmarks/training.py                         # the cpu preset, every backbone and regime
    python benchmarks/training.py --compare 0a95b03       # and that commit's code, alternating, with speedups
    python benchmarks/training.py --backbones mamba --regimes window --steps 50

A step is what train.py does per step: sample a batch (the regime's sampler), forward, loss,
backward, gradient clipping, AdamW, the warm-up schedule. Each (code, backbone, regime) runs in
a fresh process on `threads` threads (the cpu preset's 1): `warmup` steps, then `steps` timed.
Peak memory is the process's peak resident memory above its level before the first step. With
--compare REF the same measurements run on REF's code (a temporary git worktree), the two codes
alternating `rounds` times, and the table gives REF's ms over this code's: the machine's speed
drifts, so only ratios from one run count. Writes markdown and JSON to `out`.
"""
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class BenchConfig:
    backbones: str = "mingru,minlstm,mamba,attention"
    regimes: str = "window,stream,episode"
    preset: str = "cpu"
    env: str = "hopper"
    dataset: str = "medium-replay"
    warmup: int = 5
    steps: int = 40
    rounds: int = 3
    threads: int = 1
    compare: str = ""  # a git commit to measure beside this code
    out: str = "benchmarks/results"


def measure(spec: dict) -> dict:
    """In a worker process whose working directory and sys.path[0] are the measured code."""
    import numpy as np
    import torch

    from agents.decision import DecisionAgent
    from envs import load_dataset
    try:
        from suite import training as train
        regime_flag, carries = "--regime", True  # train_step takes and returns the carried state
    except ImportError:  # code from before suite.training: train.py held training
        import train
        regime_flag, carries = "--context", False

    torch.set_num_threads(spec["threads"])
    cfg = train.load_config(["--preset", spec["preset"], "--env", spec["env"], "--dataset", spec["dataset"],
                             "--backbone", spec["backbone"], regime_flag, spec["regime"]])
    dataset = load_dataset(f"{cfg.env}-{cfg.dataset}", env=cfg.env)
    torch.manual_seed(0)
    obs_mean, obs_std = dataset.obs_mean_std()
    agent = DecisionAgent(cfg.agent_config(), dataset.episodes[0].observations.shape[1],
                          dataset.episodes[0].actions.shape[1], obs_mean, obs_std)
    if hasattr(train, "train_step"):
        optimizer, scheduler = train.make_optimizer(agent, cfg)
        sampler = train.make_sampler(dataset, cfg, 0)

        carried = [None]

        def step():
            if carries:
                carried[0] = train.train_step(agent, optimizer, scheduler, sampler, cfg, "cpu", carried[0])[2]
            else:
                train.train_step(agent, optimizer, scheduler, sampler, cfg, "cpu")
    else:  # code from before train_step existed: its loop body
        sampler = train.SegmentSampler(dataset, cfg, 0)
        optimizer = torch.optim.AdamW(agent.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup_steps))

        def step():
            loss = agent.loss(**sampler.sample("cpu"))
            torch.isfinite(loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()

    agent.train()
    rss_before = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20
    for _ in range(spec["warmup"]):
        step()
    times = []
    for _ in range(spec["steps"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"ms_per_step": 1000 * float(np.median(times)), "steps_per_s": 1 / float(np.median(times)),
            "peak_mb_above_start": max(0.0, peak - rss_before)}


def run_worker(code_dir: Path, spec: dict) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    done = subprocess.run(command, cwd=code_dir, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker failed in {code_dir} for {spec}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def git(*args, cwd=REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def main(cfg: BenchConfig) -> dict:
    codes = {"this": REPO}
    worktree = None
    if cfg.compare:
        worktree = Path(tempfile.mkdtemp(prefix="bench-ref-"))
        git("worktree", "add", "--detach", str(worktree), cfg.compare)
        codes["ref"] = worktree
    rows = []
    try:
        for backbone in cfg.backbones.split(","):
            for regime in cfg.regimes.split(","):
                spec = {"backbone": backbone, "regime": regime, "preset": cfg.preset, "env": cfg.env,
                        "dataset": cfg.dataset, "warmup": cfg.warmup, "steps": cfg.steps, "threads": cfg.threads}
                runs = {name: [] for name in codes}
                for _ in range(cfg.rounds):  # alternating, so drift hits both codes alike
                    for name, code_dir in codes.items():
                        if runs[name] is not None:
                            try:
                                runs[name].append(run_worker(code_dir, spec))
                            except RuntimeError as error:  # REF's code lacks this regime, say
                                if name == "this":
                                    raise
                                print(f"{cfg.compare} cannot run {backbone}/{regime}: "
                                      f"{str(error).strip().splitlines()[-1]}", flush=True)
                                runs[name] = None
                row = {"backbone": backbone, "regime": regime}
                for name, results in runs.items():
                    row[name] = results and {key: statistics.median(r[key] for r in results) for key in results[0]}
                if row.get("ref"):
                    row["speedup"] = row["ref"]["ms_per_step"] / row["this"]["ms_per_step"]
                rows.append(row)
                print(format_row(row), flush=True)
    finally:
        if worktree is not None:
            git("worktree", "remove", "--force", str(worktree))
    ms = {(row["backbone"], row["regime"]): row["this"]["ms_per_step"] for row in rows}
    stream_over_window = {backbone: ms[backbone, "stream"] / ms[backbone, "window"]
                          for backbone, regime in ms if regime == "stream" and (backbone, "window") in ms}
    return {"config": asdict(cfg), "commit": git("rev-parse", "HEAD"), "stream_over_window": stream_over_window,
            "compare_commit": git("rev-parse", cfg.compare) if cfg.compare else None,
            "machine": {"cpu": cpu_model(), "platform": platform.platform(), "threads": cfg.threads},
            "rows": rows}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def format_row(row: dict) -> str:
    cells = [row["backbone"], row["regime"], f"{row['this']['ms_per_step']:.1f}", f"{row['this']['steps_per_s']:.1f}",
             f"{row['this']['peak_mb_above_start']:.0f}"]
    if row.get("ref"):
        cells += [f"{row['ref']['ms_per_step']:.1f}", f"{row['ref']['peak_mb_above_start']:.0f}", f"{row['speedup']:.2f}"]
    elif "ref" in row:
        cells += ["-", "-", "-"]
    return "| " + " | ".join(cells) + " |"


def markdown(result: dict) -> str:
    cfg = result["config"]
    header = "| backbone | regime | ms/step | steps/s | peak MB |"
    rule = "|---|---|---|---|---|"
    if cfg["compare"]:
        header += f" ms/step at {cfg['compare']} | peak MB at {cfg['compare']} | speedup |"
        rule += "---|---|---|"
    lines = [f"Training step, {cfg['preset']} preset, {cfg['env']}-{cfg['dataset']}, {cfg['threads']} thread(s), "
             f"median of {cfg['steps']} steps, median over {cfg['rounds']} alternating rounds; "
             f"{result['machine']['cpu']}; commit {result['commit'][:7]}.", "",
             "`python benchmarks/training.py " + " ".join(
                 f"--{k.replace('_', '-')} {v}" for k, v in cfg.items() if v != getattr(BenchConfig, k)) + "`",
             "", header, rule]
    lines += [format_row(row) for row in result["rows"]]
    if result["stream_over_window"]:
        lines += ["", "| backbone | stream ms / window ms |", "|---|---|"]
        lines += [f"| {backbone} | {ratio:.2f} |" for backbone, ratio in result["stream_over_window"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.path.insert(0, str(Path.cwd()))
        print(json.dumps(measure(json.loads(sys.argv[2]))))
        sys.exit(0)
    sys.path.insert(0, str(REPO))
    from agents.regimes import REGIMES
    from envs import DATASETS, ENVS
    from minrnn import BACKBONES
    from suite.runutils import (NON_NEGATIVE, POSITIVE, check_choices, expected_errors, one_of, parse_config,
                                write_report)
    from suite.training import PRESETS

    checks = {"preset": one_of(PRESETS), "env": one_of(ENVS), "dataset": one_of(DATASETS), "warmup": NON_NEGATIVE,
              **dict.fromkeys(("steps", "rounds", "threads"), POSITIVE)}
    config = parse_config(BenchConfig, __doc__, checks=checks)
    with expected_errors():
        check_choices("--backbones", config.backbones.split(","), list(BACKBONES))
        check_choices("--regimes", config.regimes.split(","), list(REGIMES))
        if config.compare and subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{config.compare}^{{commit}}"],
                                             cwd=REPO, capture_output=True).returncode:
            raise ValueError(f"--compare {config.compare!r} is not a commit of this repository; allowed: a commit, "
                             f"branch or tag (git log)")
    result = main(config)
    text = markdown(result)
    print(text)
    write_report(config.out, "training-cpu", result, text)
