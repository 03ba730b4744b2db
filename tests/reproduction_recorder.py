"""Run from a checkout's root: python reproduction_recorder.py MODULE REGIME_FLAG DATA OUT.

Trains a tiny fixed-seed run per backbone and regime through MODULE's `load_config` and `train`, with
MODULE's `train_step` wrapped to record every loss, and writes OUT/results.json: per case, the 200
losses and the evaluation at step 200. Kept to the interface that both the code before the refactor
of issue 36 (MODULE train, --context) and after it (suite.training, --regime) have."""
import importlib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, ".")
torch.set_num_threads(1)
module_name, regime_flag, data, out = sys.argv[1:5]
training = importlib.import_module(module_name)
results = {}
for backbone in ("mingru", "minlstm", "mamba", "attention", "gru", "lstm"):
    for regime in ("window", "episode", "stream"):
        losses, train_step = [], training.train_step

        def recording(*args, **kwargs):
            returned = train_step(*args, **kwargs)
            losses.append(returned[0].item())
            return returned

        training.train_step = recording
        run = Path(out) / f"{backbone}-{regime}"
        training.train(training.load_config([
            "--dataset", data, "--backbone", backbone, regime_flag, regime, "--d-model", "16", "--batch-size", "8",
            "--context-len", "10", "--steps", "200", "--eval-every", "200", "--eval-episodes", "2", "--num-envs", "2",
            "--checkpoint-every", "100", "--out", str(run)]))
        training.train_step = train_step
        evaluations = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
        results[f"{backbone}-{regime}"] = {"losses": losses,
                                           "eval": [[e["step"], e["target_return"], e["returns"]] for e in evaluations]}
(Path(out) / "results.json").write_text(json.dumps(results))
