#!/usr/bin/env bash
# Start the background training queue (reproductions/queue.py, one job at a time, niced) unless it runs already.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
if [ -f runs/queue.pid ] && kill -0 "$(cat runs/queue.pid)" 2>/dev/null; then
  echo "queue already running (pid $(cat runs/queue.pid)); log: runs/queue.log"
  exit 0
fi
OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE nohup nice -n 10 .venv/bin/python -m reproductions.queue >> runs/queue.log 2>&1 &
echo $! > runs/queue.pid
echo "queue started (pid $!); log: runs/queue.log"
