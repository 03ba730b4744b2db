#!/bin/bash
# Restarts this project's background jobs on its 2-core machine (results/QUEUE.md: what each is for).
# Each skips what is done: sweeps skip finished cells and resume interrupted ones, SAC runs resume
# from their last checkpoint. Sweeps run from worktrees at main, so editing /work/main does not
# change the code of cells already running. Logs: /work/*.log.
#   bash results/jobs.sh save   copies each SAC run of /work/runs/sac, all but its 300 MB replay buffer and
#                               its tensorboard logs, to results/sac-runs/ (commit it before the session
#                               stops); a new machine, which lacks /work/runs, restarts the runs from
#                               there, with their replay buffers re-enacted (envs.train_sac)
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
if pgrep -f "sweep.py|envs.train_sac" > /dev/null; then
  echo "jobs are running already (pgrep -af 'sweep.py|train_sac'): stop them first, or leave them" >&2
  exit 1
fi
CELLS=$MAIN/results/cells
for worktree in /work/wt-a /work/wt-c; do
  [ -d "$worktree" ] || git -C "$MAIN" worktree add -q --detach "$worktree" main
  git -C "$worktree" checkout -q --detach main
done
# issue 14 on hopper v1: seeds 0 and 1 at full priority, seed 2 in a sweep of its own
(cd /work/wt-a && nohup python sweep.py --datasets medium medium-replay medium-expert --contexts window stream \
  --seeds 0 1 --workers 1 --results "$CELLS" --out /work/runs/v1 >> /work/v1.log 2>&1 &)
(cd /work/wt-c && nohup nice -n 5 python sweep.py --datasets medium medium-replay medium-expert --contexts window \
  stream --seeds 2 --workers 1 --results "$CELLS" --out /work/runs/v1 >> /work/v1-seed2.log 2>&1 &)
# issue 15: SAC behaviour policies (each rerun of the same command resumes)
cd "$MAIN"
mkdir -p "$RUNS"
for kept in "$KEPT"/*/; do  # a new machine: the runs as the last session kept them
  [ -d "$kept" ] && [ ! -d "$RUNS/$(basename "$kept")" ] && cp -r "$kept" "$RUNS/"
done
# `sac NICENESS ARGS...`; halfcheetah seed 2 at full priority: its medium can land within one session
sac() { local niceness=$1; shift
  nohup nice -n "$niceness" python -m envs.train_sac "$@" >> "/work/sac-$(basename "${@: -1}").log" 2>&1 & }
sac 0 --env halfcheetah --seed 2 --train-freq 2 --total-steps 3000000 --out /work/runs/sac/halfcheetah-s2-tf2
sac 5 --env walker2d --seed 1 --out /work/runs/sac/walker2d-s1
sleep 5
pgrep -af "sweep.py|train_sac" | cut -c1-150
