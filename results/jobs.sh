#!/bin/bash
# Restarts this project's background jobs on its 2-core machine (results/QUEUE.md: what each is for).
# Each skips what is done: sweeps skip finished cells and resume interrupted ones, SAC runs resume
# from their last checkpoint. Sweeps run from worktrees at main, so editing /work/main does not
# change the code of cells already running. Logs: /work/*.log.
set -euo pipefail
MAIN=/work/main
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
sac() { nohup nice -n 5 python -m envs.train_sac "$@" >> "/work/sac-$(basename "${@: -1}").log" 2>&1 & }
sac --env halfcheetah --seed 1 --total-steps 3000000 --out /work/runs/sac/halfcheetah-s1
sac --env halfcheetah --seed 2 --train-freq 2 --total-steps 3000000 --out /work/runs/sac/halfcheetah-s2-tf2
sac --env walker2d --seed 1 --out /work/runs/sac/walker2d-s1
sac --env walker2d --seed 2 --out /work/runs/sac/walker2d-s2
sleep 5
pgrep -af "sweep.py|train_sac" | cut -c1-150
