#!/usr/bin/env bash
# Evaluate every finished zoo model in the background (niced, 1 torch thread), and with --watch those the training
# queue finishes later, unless a sweep runs already. Arguments go to `python -m reproductions.evaluate.sweep`.
# Rows: reproductions/results/evaluations.jsonl; log: runs/eval/sweep.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs/eval
pid_file=runs/eval/sweep.pid
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  echo "evaluation sweep already running (pid $(cat "$pid_file")); log: runs/eval/sweep.log"
  exit 0
fi
OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE nohup nice -n 10 .venv/bin/python -m reproductions.evaluate.sweep "$@" >> runs/eval/sweep.log 2>&1 &
echo $! > "$pid_file"
echo "evaluation sweep started (pid $!); log: runs/eval/sweep.log"
