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
# Queued: the last cells of the initialisation before/after on hopper data v1 (results/QUEUE.md; docs/agents.md,
# "Initialisation"): agent version 1 (--init torch), hopper-medium, window, seeds 0-2, on an AMD EPYC only (its "after"
# ran there), from a worktree pinned at the commit the other cells of the folder ran (INIT_COMMIT). Issue 35's long
# cells are done (24 of 24 in results/long-cells; their command: docs/results.md, "Long cells").
INIT_COMMIT=${INIT_COMMIT:-a678698bbba7fca586f4313d6e79227779c48dbb}
WORKTREE=/work/wt-init
if ! grep -q "AMD EPYC" /proc/cpuinfo; then
  echo "the initialisation cells run on an AMD EPYC only (their other cells did); nothing started here" >&2
  exit 0
fi
[ -d "$WORKTREE" ] || git -C "$MAIN" worktree add -q --detach "$WORKTREE" "$INIT_COMMIT"
git -C "$WORKTREE" checkout -q --detach "$INIT_COMMIT"
(cd "$WORKTREE" && nohup python sweep.py --datasets medium --contexts window --seeds 0 1 2 --workers 1 \
  --results "$MAIN/results/init-torch-data-v1" --out /work/runs/init-torch-data-v1 -- --init torch >> /work/sweep-init.log 2>&1 &)
# No SAC run is restarted: every env's policies are shipped (envs/policies/), and the runs they came from are kept in
# results/sac-runs (a run resumes with `python -m envs.train_sac ... --out DIR` from a copy of its folder there)
sleep 5
pgrep -af "sweep.py|train_sac" | cut -c1-150
