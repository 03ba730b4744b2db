#!/usr/bin/env bash
# The GPU check, for the day a GPU is lent (the device tool's `status` says so at no cost). In one
# call of under 10 minutes it writes benchmarks/results/*-cuda.json (or to $OUT where set):
#   1. benchmarks/backbones.py at the paper's settings: batch 64, lengths 512 and 4096, d_model
#      128; the parallel forward against the same model run step by step (GRU/LSTM included), as
#      in the paper's speedup table;
#   2. the first 5k steps of a paper-preset training cell (minGRU, window regime), timed, with one
#      10-episode evaluation at the end: training-cuda.json.
# The device machine has torch but no gymnasium, mujoco or minari and reaches no registry: carry
# them as wheels for its Python (3.12) in .whl/, and the dataset as a D4RL-layout hdf5 file:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --only-binary=:all: --python-version 3.12 -d .whl gymnasium==1.4.0 \
#       mujoco==4.0.0 minari==0.5.4 moviepy==2.2.1
#   python -c "from envs import load_dataset; from envs.d4rl import write_d4rl_file; \
#       write_d4rl_file('.whl/hopper_medium_replay-v2.hdf5', *load_dataset('hopper-medium-replay').flat())"
#   device run: bash benchmarks/gpu_check.sh .whl/hopper_medium_replay-v2.hdf5
# Without a GPU it runs the same steps at smoke sizes on the CPU, to check the script itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results}"
dataset="${1:-medium-replay}"
mkdir -p "$out"
if [ -d .whl ] && ! python3 -c "import gymnasium, mujoco" 2>/dev/null; then
    python3 -m pip install --quiet --no-index --find-links .whl gymnasium mujoco minari moviepy
fi
if python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    device=cuda lengths=512,4096 batch=64 steps=5000 episodes=10
else
    device=cpu lengths=64 batch=4 steps=20 episodes=1
    echo "no GPU here: smoke sizes on the CPU"
fi
python3 benchmarks/backbones.py --device "$device" --batch-size "$batch" --lengths "$lengths" --d-model 128 \
    --repeats 3 --out "$out"
if ! python3 -c "import gymnasium, mujoco" 2>/dev/null; then
    echo "gymnasium/mujoco missing: no training cell (carry them as wheels in .whl/, see the header)"
    exit 0
fi
run="$(mktemp -d)/gpu-check"
start=$(date +%s.%N)
python3 train.py --preset paper --dataset "$dataset" --device "$device" --steps "$steps" --eval-every "$steps" \
    --checkpoint-every "$steps" --eval-episodes "$episodes" --num-envs "$episodes" --out "$run"
python3 - "$run" "$start" "$out/training-$device.json" "$device" <<'EOF'
import json, sys, time
from pathlib import Path
run, start, path, device = Path(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
config = json.loads((run / "config.json").read_text())
evaluations = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
record = {"what": "first steps of a paper-preset cell", "device": device, "steps": config["steps"],
          "wall_s": time.time() - start, "config": config, "evaluations": evaluations}
path.write_text(json.dumps(record, indent=1))
print(f"{config['steps']} steps in {record['wall_s']:.0f} s (training, one evaluation); wrote {path}")
EOF
