#!/bin/bash
# Restarts this project's background jobs on its 2-core machine (results/QUEUE.md: what each is for).
# Each sweep skips finished cells and resumes interrupted ones. Sweeps run from worktrees at main, so
# editing /work/main does not change the code of cells already running. Logs: /work/*.log.
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
if pgrep -f "sweep.py|envs.train_sac" > /dev/null; then
  echo "jobs are running already (pgrep -af 'sweep.py|train_sac'): stop them first, or leave them" >&2
  exit 1
fi
# Issue 15's grid is complete (108 cells, 2026-12-03; its sweep commands: results/sweep.md, "Reproduce").
# Queued: the initialisation before/after on hopper data version 1 (docs/agents.md, "Initialisation"): agent
# version 1 (--init torch) on hopper-medium, 4 backbones x seeds 0-2, window, two cells at a time, into a folder of
# its own; the "after" is results/cells' hopper-medium window cells, all made on an AMD EPYC. Run it on an AMD EPYC
# (grep "model name" /proc/cpuinfo), so that before and after share a machine kind.
WORKTREE=/work/wt-init
[ -d "$WORKTREE" ] || git -C "$MAIN" worktree add -q --detach "$WORKTREE" main
git -C "$WORKTREE" checkout -q --detach main
(cd "$WORKTREE" && nohup python sweep.py --datasets medium --contexts window --seeds 0 1 2 --workers 2 \
  --results "$MAIN/results/init-torch-data-v1" --out /work/runs/init-torch-data-v1 -- --init torch \
  >> /work/sweep-init.log 2>&1 &)
# No SAC run is restarted: every env's policies are shipped (envs/policies/), and the runs they came from are kept in
# results/sac-runs (a run resumes with `python -m envs.train_sac ... --out DIR` from a copy of its folder there)
sleep 5
pgrep -af "sweep.py|train_sac" | cut -c1-150
