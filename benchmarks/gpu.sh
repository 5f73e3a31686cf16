#!/usr/bin/env bash
# Run jaxnn's benchmarks on a GPU machine, in under 5 minutes, and print their Markdown tables.
#
#   bash benchmarks/gpu.sh            # from the repository root
#
# TRAIN_ARGS overrides the training benchmark's flags (default: --quick --steps 1000 --large-steps 50).
# SWEEP_ARGS overrides the sweep benchmark's flags (see benchmarks/bench_sweep.py --help).
#
# Needs only Python with jax (CUDA build), optax and chex; nothing is installed and nothing is
# downloaded.  scikit-learn, PyTorch and NumPy baselines run on the CPU when importable and are
# skipped otherwise (the tables say so).  Set PYTHON to choose the interpreter.  When $OUT is set,
# everything printed is also written to $OUT/gpu_bench.md.
#
# One section per benchmark, each under its own time limit; add new benchmarks as new sections.

set -u
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python}
LOG=/dev/null
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT" && LOG="$OUT/gpu_bench.md" && : > "$LOG"
fi
status=0

section() {  # section TITLE LIMIT_SECONDS COMMAND...: run one benchmark, print and log its output
  local title=$1 limit=$2
  shift 2
  echo
  echo "## $title"
  echo
  echo "\`$*\` (limit ${limit}s)"
  echo
  timeout "$limit" "$@" 2>&1
  local rc=$?
  if [ $rc -eq 124 ]; then echo "(stopped: hit the ${limit}s limit)"; fi
  if [ $rc -ne 0 ]; then echo "(exit status $rc)"; status=1; fi
  return 0
}

{
  echo "# jaxnn benchmarks on $(hostname), $(date -u +%Y-%m-%dT%H:%MZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
  "$PY" -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1

  # Training speed: digits (jaxnn vs raw JAX and the CPU baselines) and the large MLP.
  section "Training (benchmarks/bench_train.py)" 200 \
    "$PY" benchmarks/bench_train.py ${TRAIN_ARGS:---quick --steps 1000 --large-steps 50}

  # Sweeps: configurations/s and the fraction of the GPU's matmul peak (digits, 32 x 32 = 1024
  # configurations x 500 steps), against the sequential jitted loop (timed on a sample); XOR 4096 x 2000.
  section "Sweeps (benchmarks/bench_sweep.py)" 150 \
    "$PY" benchmarks/bench_sweep.py ${SWEEP_ARGS:---no-sklearn --no-memory --digits-grid 32 --seq-sample 16 --xor-seq-sample 32}

  exit $status
} 2>&1 | tee "$LOG"

exit "${PIPESTATUS[0]}"
