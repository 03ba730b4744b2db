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
CELLS=$MAIN/results/cells
for worktree in /work/wt-a /work/wt-b /work/wt-c /work/wt-d; do
  [ -d "$worktree" ] || git -C "$MAIN" worktree add -q --detach "$worktree" main
  git -C "$worktree" checkout -q --detach main
done
sweeps() {  # sweeps WORKTREE LOG 'ARGS' ['ARGS'...]: one sweep after another, one cell at a time, into results/cells
  local worktree=$1 log=$2 chain=""; shift 2
  for args in "$@"; do chain+="python sweep.py $args --contexts window --workers 1 --results $CELLS; "; done
  (cd "$worktree" && nohup bash -c "$chain" >> "$log" 2>&1 &)
}
# issue 14's hopper grid is complete (2026-12-03) and decided window as every backbone's default regime
# (docs/agents.md), so issue 15's grid runs window cells: halfcheetah on data version 2 (its expert shipped
# 2026-12-03), walker2d on data version 1 (exported 2026-12-03: medium = SAC walker2d-s2-gs2 at 250k, expert =
# walker2d-s1 at 680k). What was left at the thirteenth session's start (9 cells, all seed 1; a new machine, so
# the data is generated again on first use), split into four chains of about equal work (a Mamba cell takes about
# twice another's time); the sweeps take disjoint cells, so that no sweep evaluates another's finished cells again
HC="--envs halfcheetah --out /work/runs/halfcheetah"
WK="--envs walker2d --out /work/runs/walker2d"
sweeps /work/wt-a /work/sweep-wt-a.log "$HC --datasets medium-replay --seeds 1"
sweeps /work/wt-b /work/sweep-wt-b.log "$WK --datasets medium-expert --seeds 1"
sweeps /work/wt-c /work/sweep-wt-c.log "$WK --datasets medium-replay --backbones mamba attention --seeds 1"
sweeps /work/wt-d /work/sweep-wt-d.log "$HC --datasets medium-expert --seeds 1" \
  "$WK --datasets medium-replay --backbones minlstm --seeds 1"
# No SAC run is restarted: every env's policies are shipped (envs/policies/), and the runs they came from are kept in
# results/sac-runs (a run resumes with `python -m envs.train_sac ... --out DIR` from a copy of its folder there)
sleep 5
pgrep -af "sweep.py|train_sac" | cut -c1-150
