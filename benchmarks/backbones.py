"""Speed and memory of every backbone: parallel training step, step loop, one recurrent step.

    python benchmarks/backbones.py            # CUDA when present, else CPU
    python benchmarks/backbones.py --threads 1 --lengths 64,512

For each backbone and length it measures the training step (forward + backward, median of
`repeats`), its peak memory (CUDA: max_memory_allocated; CPU: the measuring process's peak
resident memory above its level before the step, each cell in a fresh process), and the
speedup of the parallel forward over the same model run step by step (both forward only,
under no_grad: a step loop with backward through 4096 steps of attention's growing cache
does not fit in memory), at the training batch size and at batch 1. On a CPU the parallel
forward is bound by arithmetic (the MLPs' matmuls) and the step loop by per-call overhead,
so the speedup shrinks as the batch grows. Then the time of one `step` call at each batch size after t steps.
Prints markdown tables and writes JSON (and the markdown) to `out`.
"""
import platform
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from minrnn import BACKBONES, build_backbone  # noqa: E402
from suite.runutils import (DEVICE, NON_NEGATIVE, POSITIVE, check_choices, comma_separated, expected_errors,  # noqa: E402
                            parse_config, pick_device, write_report)


@dataclass
class BenchConfig:
    backbones: str = ",".join(BACKBONES)
    lengths: str = "64,512,1024,4096"
    batch_size: int = 8
    d_model: int = 128
    n_layers: int = 2
    repeats: int = 3
    step_batch_sizes: str = "1,32"
    step_times: str = "1,1000"
    threads: int = 0  # 0: torch's default, all cores
    device: str = "auto"
    out: str = "benchmarks/results"


CHECKS = {**dict.fromkeys(("lengths", "step_batch_sizes", "step_times"), comma_separated(POSITIVE)),
          **dict.fromkeys(("batch_size", "d_model", "n_layers", "repeats"), POSITIVE), "threads": NON_NEGATIVE,
          "device": DEVICE}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _setup(cfg: BenchConfig, name: str):
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    torch.manual_seed(0)
    return build_backbone(name, d_model=cfg.d_model, n_layers=cfg.n_layers).to(device), device


def _timed(fn, device, repeats: int) -> float:
    """Median wall time of fn() in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure_sequence(cfg: BenchConfig, name: str, length: int) -> dict:
    model, device = _setup(cfg, name)
    x = torch.randn(cfg.batch_size, length, cfg.d_model, device=device)

    def train_step():
        model.zero_grad(set_to_none=True)
        y, _ = model(x)
        y.square().mean().backward()

    def step_loop(inputs):
        state = model.init_state(inputs.shape[0])
        for t in range(length):
            _, state = model.step(inputs[:, t], state)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        train_step()
        peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        base = _resident_mb()
        train_step()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    train_ms = _timed(train_step, device, cfg.repeats)
    row = {"backbone": name, "length": length, "train_ms": train_ms, "peak_mb": peak_mb}
    with torch.no_grad():
        for batch_size, inputs in ((cfg.batch_size, x), (1, x[:1])):
            parallel_ms = _timed(lambda: model(inputs), device, cfg.repeats)
            loop_ms = _timed(lambda: step_loop(inputs), device, 1)
            row[f"speedup_b{batch_size}"] = loop_ms / parallel_ms
        row.update(parallel_forward_ms=parallel_ms, step_loop_forward_ms=loop_ms)
    return row


def measure_step(cfg: BenchConfig, name: str, batch_size: int, t: int) -> dict:
    """Time of one step() call from the state after t steps (the state comes from a parallel run)."""
    model, device = _setup(cfg, name)
    with torch.no_grad():
        _, state = model(torch.randn(batch_size, t, cfg.d_model, device=device))
        x_t = torch.randn(batch_size, cfg.d_model, device=device)
        step_ms = _timed(lambda: model.step(x_t, state), device, max(cfg.repeats, 20))
    return {"backbone": name, "batch_size": batch_size, "t": t, "step_ms": step_ms}


def _table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    lines = ["| " + " | ".join(title for title, _, _ in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(format(row[key], fmt) for _, key, fmt in columns) + " |")
    return "\n".join(lines)


def main(cfg: BenchConfig) -> dict:
    names = cfg.backbones.split(",")
    device = pick_device(cfg.device)
    started = time.time()
    # a fresh process per cell, so that each peak-memory reading is its own
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        sequence = [pool.submit(measure_sequence, cfg, n, length) for n in names for length in _ints(cfg.lengths)]
        steps = [pool.submit(measure_step, cfg, n, b, t)
                 for n in names for b in _ints(cfg.step_batch_sizes) for t in _ints(cfg.step_times)]
        sequence = [f.result() for f in sequence]
        steps = [f.result() for f in steps]
    baseline = {r["length"]: r["train_ms"] for r in sequence if r["backbone"] == "gru"}
    for r in sequence:
        r["train_speedup_vs_gru"] = baseline.get(r["length"], float("nan")) / r["train_ms"]
    machine = (torch.cuda.get_device_name() if device.type == "cuda"
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads() if not cfg.threads else cfg.threads} thread(s)")
    result = {"config": asdict(cfg), "device": device.type, "machine": machine, "torch": torch.__version__,
              "wall_s": round(time.time() - started, 1), "sequence": sequence, "step": steps}
    markdown = (
        f"Device: {device.type} ({machine}); batch {cfg.batch_size}, d_model {cfg.d_model}, "
        f"{cfg.n_layers} layers, float32, torch {torch.__version__}.\n\n"
        + _table(sequence, [("backbone", "backbone", ""), ("length", "length", "d"),
                            ("train step ms", "train_ms", ".1f"), ("vs GRU", "train_speedup_vs_gru", ".2f"),
                            ("peak MB", "peak_mb", ".0f"),
                            (f"parallel speedup, batch {cfg.batch_size}", f"speedup_b{cfg.batch_size}", ".1f"),
                            ("parallel fwd ms, batch 1", "parallel_forward_ms", ".1f"),
                            ("step loop fwd ms, batch 1", "step_loop_forward_ms", ".1f"),
                            ("parallel speedup, batch 1", "speedup_b1", ".1f")])
        + "\n\n" + _table(steps, [("backbone", "backbone", ""), ("batch", "batch_size", "d"),
                                  ("t", "t", "d"), ("one step ms", "step_ms", ".3f")]))
    print(markdown)
    write_report(cfg.out, f"backbones-{device.type}", result, markdown)
    print(f"\nwrote {cfg.out}/backbones-{device.type}.json in {result['wall_s']} s")
    return result


if __name__ == "__main__":
    config = parse_config(BenchConfig, __doc__, checks=CHECKS)
    with expected_errors():
        check_choices("--backbones", config.backbones.split(","), list(BACKBONES))
    main(config)
