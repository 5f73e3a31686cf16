#!/usr/bin/env bash
# Run jaxnn's benchmarks on a GPU machine, in about 10 minutes, and print their Markdown tables.
#
#   bash benchmarks/gpu.sh            # from the repository root
#
# Each section's flags can be overridden by an environment variable (see each script's --help):
#   TRAIN_ARGS (bench_train.py), SWEEP_ARGS (bench_sweep.py), CONV_ARGS (bench_conv.py),
#   AE_ARGS (bench_autoencoder.py), EST_ARGS / EST_SEARCH_ARGS / EST_SPARSE_ARGS (bench_estimators.py),
#   ADAPT_ARGS / MODELS_ARGS (bench_adaptive.py), CALLS_ARGS (bench_lane_calls.py), COLD_ARGS (bench_cold_start.py).
#
# Needs only Python with jax (CUDA build), optax and chex; nothing is installed and nothing is
# downloaded.  scikit-learn, PyTorch and NumPy baselines run on the CPU when importable and are
# skipped otherwise (the tables say so).  Set PYTHON to choose the interpreter.  When $OUT is set,
# everything printed is also written to $OUT/gpu_bench.md.
#
# One section per benchmark, each under its own time limit; add new benchmarks as new sections.

set -u
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # jaxnn from this checkout, installed or not
export PYTHONUNBUFFERED=1   # a section stopped by its time limit still shows what it printed
# Compile times are cold compiles: jaxnn's persistent compilation cache stays off unless asked for (a section
# would otherwise load what an earlier one compiled).  bench_cold_start.py sets it per process itself.
export JAXNN_COMPILATION_CACHE=${JAXNN_COMPILATION_CACHE:-0}
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
  section "Training (benchmarks/bench_train.py)" 70 \
    "$PY" benchmarks/bench_train.py ${TRAIN_ARGS:---quick --steps 1000 --large-steps 50}

  # Sweeps: configurations/s and the fraction of the GPU's matmul peak (digits, 32 x 32 = 1024
  # configurations x 500 steps), against the sequential jitted loop (timed on a sample); XOR 4096 x 2000;
  # a 1024-trial random space against the 32 x 32 grid; a static hidden-size axis against one sweep per
  # size.  The torch.func.vmap comparison is left out (a CPU baseline: see the CPU run).
  section "Sweeps (benchmarks/bench_sweep.py)" 70 \
    "$PY" benchmarks/bench_sweep.py ${SWEEP_ARGS:---no-sklearn --no-memory --no-torch --digits-grid 32 --seq-sample 16 --xor-seq-sample 32}

  # Convolution + pooling of 400 learned 8x8 features over 96x96 images (PyTorch on the CPU as in the
  # CPU table; the SciPy loop and the host-memory children are left out: they measure the CPU).
  section "Convolution and pooling (benchmarks/bench_conv.py)" 35 \
    "$PY" benchmarks/bench_conv.py ${CONV_ARGS:---n-images 2000 --n-unfused 64 --n-torch 32 --n-scipy 0 --n-memory --repeats 2}

  # Sparse autoencoder (UFLDL's exercise): compiled L-BFGS and gradient descent vs SciPy on the CPU.
  section "Sparse autoencoder (benchmarks/bench_autoencoder.py)" 65 \
    "$PY" benchmarks/bench_autoencoder.py ${AE_ARGS:---repeats 2 --no-single-thread}

  # scikit-learn-compatible estimators (scikit-learn on the CPU), in three sections so that each finishes
  # within its limit: single fits and the 4 x 4 x 3 grid search; the randomized and halving searches (issue
  # 13's GPU target, >= 15x for every search); the sparse fit.
  section "Estimators: single fits and grid search (benchmarks/bench_estimators.py)" 45 \
    "$PY" benchmarks/bench_estimators.py ${EST_ARGS:---float32 --repeats 1 --shuffle --skip-search --skip-sparse}
  section "Estimators: randomized and halving searches (benchmarks/bench_estimators.py)" 50 \
    "$PY" benchmarks/bench_estimators.py ${EST_SEARCH_ARGS:---float32 --shuffle --skip-single --skip-grid --skip-sparse}
  section "Estimators: sparse fit (benchmarks/bench_estimators.py)" 35 \
    "$PY" benchmarks/bench_estimators.py ${EST_SPARSE_ARGS:---skip-single --skip-grid --skip-search}

  # Adaptive searches: successive halving, Hyperband, the early-stopping sweeps.run and the full jaxnn.sweep of
  # 243 digits candidates (budgets 9..243), and issue 23's model-based rows (BOHB, ASHA + TPE, TPE at one
  # budget), two seeds each (the second compiled); Optuna, scikit-learn and hyperoptax are left out (sequential
  # trials or a CPU baseline; see the CPU run; a peer not installed is left out with a note anyway).
  section "Adaptive searches (benchmarks/bench_adaptive.py)" 120 \
    "$PY" benchmarks/bench_adaptive.py ${ADAPT_ARGS:---seeds 2 --model-seeds 2 --no-optuna --no-sklearn --no-hyperoptax}

  # Issue 24: successive halving of the same network built by jaxnn.trainable, by sweeps.trainable_from and
  # (when equinox is importable) as an Equinox MLP: lane-steps per second against jaxnn.trainable's.
  section "Adaptive searches: any model in (benchmarks/bench_adaptive.py --models)" 60 \
    "$PY" benchmarks/bench_adaptive.py ${MODELS_ARGS:---models --seeds 2}

  # Where an adaptive search's time goes on this device: successive halving and ASHA + TPE call by call (the
  # calls that start trials and the others), and a call's fixed cost.
  section "Adaptive searches call by call (benchmarks/bench_lane_calls.py)" 45 \
    "$PY" benchmarks/bench_lane_calls.py ${CALLS_ARGS:---calls --seeds 1}

  # Cold start: a scikit-learn user's script in fresh processes (MLPClassifier on breast_cancer; scikit-learn on
  # the CPU): import, first fit without the cache, with a cold and with a warm persistent compilation cache
  # (the second process's fit: issue 22's target, <= 1.5x scikit-learn's), and the warm fit in one process.
  section "Cold start (benchmarks/bench_cold_start.py)" 90 \
    "$PY" benchmarks/bench_cold_start.py ${COLD_ARGS:---quick}

  exit $status
} 2>&1 | tee "$LOG"

exit "${PIPESTATUS[0]}"
