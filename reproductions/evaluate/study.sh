#!/usr/bin/env bash
# Start or resume issue 14's evaluation study in the background (nice ${MEDZOO_NICE:-10}, one torch thread, one process at a time)
# unless it runs already. Stages, in order; each is resumable (finished work is a JSON line and is skipped):
#   memorization  every bundled 28 px model: C_T, nearest train/test distances, closest pairs; verdicts into cards
#   fidelity      FID/KID/precision/recall at equal n with bootstrap 95% intervals and the real-vs-real floor
#   sanity        FID/KID of real test images under blur, noise and mode dropping (the feature-space check)
#   utility       the fair utility study (subset generators, paired statistics); arguments after `--` go to it
# Usage: reproductions/evaluate/study.sh [--work-dir DIR] [--stages a,b,c] [--device cpu|cuda] [-- UTILITY ARGS]
# Default work dir (caches, subset generators, log, pid): $MEDZOO_STUDY_DIR or runs/study. Log: <work dir>/log.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${MEDZOO_STUDY_DIR:-runs/study}"
stages="memorization,fidelity,sanity,utility"
device="cpu"
foreground=0
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --work-dir) work="$2"; shift 2 ;;
    --stages) stages="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --foreground) foreground=1; shift ;;
    --) shift; break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
utility_args=("$@")
[ ${#utility_args[@]} -gt 0 ] || utility_args=(--datasets breastmnist --seeds 5)
mkdir -p "$work"
work="$(cd "$work" && pwd)"
py=.venv/bin/python medzoo=.venv/bin/medzoo
[ -x "$py" ] || { py=python; medzoo=medzoo; }
run_stages() {
  for stage in ${stages//,/ }; do
    echo "[$(date -u +%FT%TZ)] stage $stage: start"
    case "$stage" in
      memorization) "$py" -m reproductions.evaluate.memorization --flag-models ;;
      fidelity) "$py" -m reproductions.evaluate.equal_n ;;
      sanity) "$py" -m reproductions.evaluate.sanity ;;
      utility) "$medzoo" utility run --device "$device" "${utility_args[@]}" ;;
      *) echo "unknown stage $stage" ;;
    esac && echo "[$(date -u +%FT%TZ)] stage $stage: done" || echo "[$(date -u +%FT%TZ)] stage $stage: FAILED (exit $?)"
  done
}
export MEDZOO_STUDY_DIR="$work" OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE MKL_NUM_THREADS=1
if [ "$foreground" = 1 ]; then
  run_stages
  exit 0
fi
pid_file="$work/pid"
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  echo "study already running (pid $(cat "$pid_file")); log: $work/log.txt"
  exit 0
fi
nohup nice -n "${MEDZOO_NICE:-10}" "$0" --foreground "${args[@]}" >> "$work/log.txt" 2>&1 < /dev/null &
echo $! > "$pid_file"
echo "study started (pid $!, stages $stages); log: $work/log.txt"
