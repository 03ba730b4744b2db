#!/bin/bash
# Restarts this project's background jobs on its 2-core machine (results/QUEUE.md: what each is for).
# Each sweep skips finished cells and resumes interrupted ones. Sweeps run from worktrees at main, so
# editing /work/main does not change the code of cells already running. Logs: /work/*.log.
#   bash results/jobs.sh keep   copies the unfinished long cells' checkpoints (issue 35) to results/long-runs/, so that
#                               a new machine resumes them (commit it before the session stops)
#   bash results/jobs.sh save   copies each SAC run of /work/runs/sac, all but its 300 MB replay buffer and
#                               its tensorboard logs, to results/sac-runs/ (commit it before the session
#                               stops); a run resumes from a copy of its folder there, its replay buffer
#                               re-enacted (envs.train_sac)
set -euo pipefail
MAIN=/work/main
RUNS=/work/runs/sac
KEPT=$MAIN/results/sac-runs
if [ "${1:-}" = save ]; then
  for run in "$RUNS"/*/; do
    name=$(basename "$run")
    rm -rf "$KEPT/$name.tmp" && mkdir -p "$KEPT/$name.tmp/checkpoint"
    # the model first: the actors and evaluations written after it only add what a resume from it rewrites
    (cd "$run" && cp checkpoint/model.zip "$KEPT/$name.tmp/checkpoint/" && cp -r config.json eval.jsonl actors \
      "$KEPT/$name.tmp/" && if [ -f resumes.jsonl ]; then cp resumes.jsonl "$KEPT/$name.tmp/"; fi)
    rm -rf "$KEPT/$name" && mv "$KEPT/$name.tmp" "$KEPT/$name"
    echo "kept $run in $KEPT/$name"
  done
  exit 0
fi
LONG_RUNS=/work/runs/long
LONG_KEPT=$MAIN/results/long-runs
if [ "${1:-}" = keep ]; then  # the unfinished long cells' run directories, so that a new machine resumes them
  mkdir -p "$LONG_KEPT"
  for run in "$LONG_RUNS"/*/; do
    name=$(basename "$run")
    [ -f "$MAIN/results/long-cells/$name.json" ] && { rm -rf "$LONG_KEPT/$name"; continue; }
    [ -f "$run/checkpoint.pt" ] || continue
    rm -rf "$LONG_KEPT/$name.tmp" && mkdir -p "$LONG_KEPT/$name.tmp"
    (cd "$run" && cp -r checkpoint.pt config.json tb "$LONG_KEPT/$name.tmp/" && { [ ! -f eval.jsonl ] || cp eval.jsonl "$LONG_KEPT/$name.tmp/"; })
    rm -rf "$LONG_KEPT/$name" && mv "$LONG_KEPT/$name.tmp" "$LONG_KEPT/$name"
    echo "kept $run in $LONG_KEPT/$name (step $(python -c "import torch; print(torch.load('$run/checkpoint.pt', weights_only=False)['step'])"))"
  done
  exit 0
fi
if pgrep -f "sweep.py|envs.train_sac" > /dev/null; then
  echo "jobs are running already (pgrep -af 'sweep.py|train_sac'): stop them first, or leave them" >&2
  exit 1
fi
# Queued: issue 35's long cells (results/QUEUE.md): 50,000 steps of the cpu preset, window, hopper medium and
# medium-replay, 4 backbones x seeds 0-2, two cells at a time, from a worktree pinned at one commit (LONG_COMMIT), so
# that the refactor done meanwhile in /work/main cannot change what they compute. Interrupted cells resume from their
# checkpoint in /work/runs/long (kept in results/long-runs/ between machines: `bash results/jobs.sh keep`).
LONG_COMMIT=${LONG_COMMIT:-0a62e6670eba80f9d020d62dec5955ce3425625c}
WORKTREE=/work/wt-long
mkdir -p "$LONG_RUNS"
for kept in "$LONG_KEPT"/*/; do  # a new machine: the kept unfinished cells go on from their checkpoints
  [ -d "$kept" ] && [ ! -d "$LONG_RUNS/$(basename "$kept")" ] && cp -r "$kept" "$LONG_RUNS/$(basename "$kept")"
done
[ -d "$WORKTREE" ] || git -C "$MAIN" worktree add -q --detach "$WORKTREE" "$LONG_COMMIT"
git -C "$WORKTREE" checkout -q --detach "$LONG_COMMIT"
(cd "$WORKTREE" && nohup python sweep.py --datasets medium medium-replay --contexts window --seeds 0 1 2 --workers 2 \
  --final-episodes 50 --target-sweep 600 1200 1800 2400 3000 3600 4200 --sweep-episodes 20 \
  --results "$MAIN/results/long-cells" --out /work/runs/long -- --steps 50000 >> /work/sweep-long.log 2>&1 &)
# every 15 minutes while the sweep runs, the unfinished cells' checkpoints go to results/long-runs/ (`keep`), so that a
# session that ends without its stop routine still leaves them in the checkout for the next machine
(nohup bash -c "sleep 60; while pgrep -f 'sweep.py --datasets medium medium-replay' > /dev/null; do
  bash $MAIN/results/jobs.sh keep; sleep 900; done" >> /work/keep-long.log 2>&1 &)
# Waiting behind it: the last 2 cells of the initialisation before/after (results/init-torch-data-v1, Mamba and
# attention s2, on an AMD EPYC only): from /work/wt-init at main, `python sweep.py --datasets medium --contexts window
# --seeds 0 1 2 --workers 2 --results /work/main/results/init-torch-data-v1 --out /work/runs/init-torch-data-v1 -- --init torch`
# No SAC run is restarted: every env's policies are shipped (envs/policies/), and the runs they came from are kept in
# results/sac-runs (a run resumes with `python -m envs.train_sac ... --out DIR` from a copy of its folder there)
sleep 5
pgrep -af "sweep.py|train_sac" | cut -c1-150
