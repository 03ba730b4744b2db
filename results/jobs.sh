#!/bin/bash
# Restarts this project's background jobs on its 2-core machine (results/QUEUE.md: what each is for).
# Each sweep skips finished cells and resumes interrupted ones. Sweeps run from worktrees pinned at one
# commit, so editing /work/main does not change the code of cells already running. Logs: /work/*.log.
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
# Queued: nothing (2026-12-05). Issue 35's long cells (24 of 24, results/long-cells) and the initialisation
# before/after on hopper data v1 (12 of 12, results/init-torch-data-v1) are done; their commands are in
# results/QUEUE.md and docs/. A new job goes here: a sweep from a worktree pinned at one commit, with absolute
# --results/--out paths, started detached (nohup ... &) so that this script returns.
# No SAC run is restarted: every env's policies are shipped (envs/policies/), and the runs they came from are kept in
# results/sac-runs (a run resumes with `python -m envs.train_sac ... --out DIR` from a copy of its folder there)
sleep 5
pgrep -af "sweep.py|train_sac" | cut -c1-150
