#!/usr/bin/env bash
# Start or resume the utility study in the background (niced, 1 torch thread) unless it runs already.
# Finished cells are lines of reproductions/results/utility.jsonl; a rerun skips them. Arguments go to
# `medzoo utility run` (default: every dataset, seeds 0-4, generator arms at 0-2). Log: runs/eval-utility/log.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs/eval-utility
pid_file=runs/eval-utility/pid
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  echo "utility study already running (pid $(cat "$pid_file")); log: runs/eval-utility/log.txt"
  exit 0
fi
OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE nohup nice -n 10 .venv/bin/medzoo utility run "$@" >> runs/eval-utility/log.txt 2>&1 &
echo $! > "$pid_file"
echo "utility study started (pid $!); log: runs/eval-utility/log.txt"
