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
sweep() {  # sweep WORKTREE LOG ARGS...: one cell at a time into results/cells
  local worktree=$1 log=$2; shift 2
  (cd "$worktree" && nohup python sweep.py "$@" --workers 1 --results "$CELLS" >> "$log" 2>&1 &)
}
# issue 14's hopper grid is complete (2026-12-03) and decided window as every backbone's default regime
# (docs/agents.md), so issue 15's grid runs window cells: halfcheetah on data version 2 (its expert shipped
# 2026-12-03), seeds 0 and 1 in one sweep, seed 2 in another
sweep /work/wt-a /work/halfcheetah.log --envs halfcheetah --datasets medium medium-replay medium-expert \
  --contexts window --seeds 0 1 --out /work/runs/halfcheetah
sweep /work/wt-c /work/halfcheetah-seed2.log --envs halfcheetah --datasets medium medium-replay medium-expert \
  --contexts window --seeds 2 --out /work/runs/halfcheetah
# issue 15: SAC behaviour policies (each rerun of the same command resumes); halfcheetah-s2-tf2 is done (its expert,
# 990k, shipped 2026-12-03) and stays in results/sac-runs as the shipped policies' run
cd "$MAIN"
mkdir -p "$RUNS"
for kept in "$KEPT"/*/; do  # a new machine: the runs as the last session kept them
  [ -d "$kept" ] && [ ! -d "$RUNS/$(basename "$kept")" ] && cp -r "$kept" "$RUNS/"
done
sac() { nohup python -m envs.train_sac "$@" >> "/work/sac-$(basename "${@: -1}").log" 2>&1 & }
# walker2d seed 1 is stopped (2026-12-03, tenth session, at 700k): its 680k actor is walker2d's expert (data check:
# complete episodes 81.7); it stays in results/sac-runs as that expert's run
# walker2d's medium within 25% of D4RL's medium-replay size (302k): seed 1 learns too slowly per env step (sampled 30
# at 340k), so a run with two updates per env step, for the medium (the expert may come from either: export --expert-run)
sac --env walker2d --seed 2 --gradient-steps 2 --out /work/runs/sac/walker2d-s2-gs2
sleep 5
pgrep -af "sweep.py|train_sac" | cut -c1-150
