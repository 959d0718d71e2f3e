#!/usr/bin/env bash
# Issue 14's checks on a GPU machine, in one script: the presets' full training runs
# on the GPU (side by side) with the GPU tests beside them, then the GPU benchmark
# against PyTorch alone. RUN_TIMEOUT, TEST_TIMEOUT, BENCH_TIMEOUT (seconds) bound each part.
#
#   bash benchmarks/gpu_checks.sh DATA_DIR OUT_DIR [EXTRA_RUNS_FILE]
#
# DATA_DIR holds mnist/ and fashion-mnist/. OUT_DIR receives gpu.txt, pytest.log,
# bench.log, bench_gpu.json and runs.tgz (each run's log, config.json and metrics.json).
# EXTRA_RUNS_FILE: more runs, one per line: NAME then scratchnn train flags.
set -u
DATA=$(cd "$1" && pwd)
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
EXTRA=${3:-}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 SCRATCHNN_DATA=$DATA
PY=${PYTHON:-python3}
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }

stamp "machine" >"$OUT/gpu.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >>"$OUT/gpu.txt" 2>&1
$PY -c "import cupy, numpy, torch; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)" >>"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

mkdir -p "$OUT/runs"
run() {  # NAME, then flags for scratchnn train; each run stops after RUN_TIMEOUT seconds
    local name=$1; shift
    timeout "${RUN_TIMEOUT:-3600}" $PY -m scratchnn train "$@" --device gpu --data-dir "$DATA" --no-download \
        --output-dir "$OUT/runs" --name "$name" --no-plots >"$OUT/runs/$name.log" 2>&1
    echo "$name exit $? $(grep -h "final test accuracy" "$OUT/runs/$name.log")"
}

# The full training runs go first, side by side (their epoch times are not the
# benchmark's: they share the GPU), and the tests run beside them.
stamp "full runs, side by side, and the GPU tests"
run mlp-large-seed0 --preset mlp-large --seed 0 &
for seed in 0 1 2; do run "cnn-seed$seed" --preset cnn --seed "$seed" & done
if [ -n "$EXTRA" ]; then
    while read -r name flags; do
        [ -n "$name" ] && eval "run $name $flags" &
    done <"$EXTRA"
fi
timeout "${TEST_TIMEOUT:-600}" $PY -m pytest -q -p no:cacheprovider -rs tests/gpu tests/nn/test_xp_plumbing.py \
    tests/nn/test_backend.py tests/data/test_augment_xp.py >"$OUT/pytest.log" 2>&1
echo "pytest exit $?"; tail -5 "$OUT/pytest.log"
wait
stamp "runs done"

# The benchmark last, alone on the GPU.
stamp "benchmark"
timeout "${BENCH_TIMEOUT:-1200}" $PY benchmarks/bench_gpu.py --data-dir "$DATA" --out "$OUT/bench_gpu.json" \
    >"$OUT/bench.log" 2>&1
echo "bench exit $?"; cat "$OUT/bench.log"
stamp "done"
rm -f "$OUT"/runs/*/model.npz "$OUT"/runs/*/checkpoint.npz
tar czf "$OUT/runs.tgz" -C "$OUT" runs && rm -rf "$OUT/runs"
