#!/usr/bin/env bash
# The GPU checks of a session with a lent GPU (../shared/gpu.md): install what the GPU machine
# lacks from wheels in .whl/ (soundfile, librosa, papermill, dask and their small dependencies),
# run the CUDA tests of the fast training path, then bench/gpu.py (per-run training throughput,
# the large-batch ceiling, models fused in one step, several processes at once, the fast path's
# effect on results, the official-settings grid's estimated wall time), each under a timeout,
# writing every output to $OUT. ONLY=... and MODES=... pick bench/gpu.py's sections and paths;
# E2E_S=SECONDS adds the end-to-end run of one full-size machine type (bench/gpu.py makes its data).
# CALIBRATE=1 adds the official-settings calibration of the synthetic data and bench/training.py
# on CUDA (the checks of earlier sessions).
#
#   run (device tool):  bash bench/gpu.sh        with .whl carried beside the checkout
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl > "$OUT/pip.txt" 2>&1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 ASDLIB_CACHE=/tmp/cache OMP_NUM_THREADS=4
{ nvidia-smi --query-gpu=name,memory.total --format=csv; nproc; \
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } > "$OUT/machine.txt" 2>&1
step() {  # step NAME SECONDS COMMAND...: run under a timeout, log its time and exit status
  local name=$1 limit=$2 start=$(date +%s); shift 2
  timeout -k 10 "$limit" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name: $(( $(date +%s) - start )) s, exit $rc" >> "$OUT/times.txt"
}
step tests-cuda "${TESTS_S:-120}" python3 -m pytest -q -p no:cacheprovider tests/test_accel.py \
  tests/test_features.py -k "cuda or captured or resident"
step bench-gpu "${BENCH_S:-400}" python3 bench/gpu.py --work /tmp/gpu-bench --json "$OUT/gpu.json" \
  --procs "${PROCS:-1,2,4}" --only "${ONLY:-per_run,ceiling,fused,processes,results}" \
  --modes "${MODES:-eager,fast,bf16}"
if [ -n "${E2E_S:-}" ]; then  # the end-to-end run of the issue: one full-size machine type x 6 systems x 1 seed,
  # the paper's settings (E2E_SET="config={'epochs': 1}" for a short one); the runs come back without weights
  step e2e "$E2E_S" python3 -m asdlib.cli run grids/paper.yml --data /tmp/gpu-bench/data --out /tmp/e2e \
    --machines fan --seeds 0 ${E2E_SET:+--set "$E2E_SET"} --quiet
  tar --exclude=model.pt --exclude=cache -czf "$OUT/e2e.tgz" -C /tmp/e2e . 2>/dev/null
fi
if [ "${CALIBRATE:-0}" = 1 ]; then
  step synth 90 python3 -m asdlib.cli synth --out /tmp/d --profile book --quiet --workers 14
  step calibrate-official "${CALIBRATE_S:-330}" python3 bench/calibrate.py --out /tmp/cal --data /tmp/d \
    --settings official --workers 6 --device cuda
  step training-cuda "${TRAINING_S:-150}" python3 bench/training.py --device cuda
fi
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> "$OUT/machine.txt" 2>&1
tail -n 60 "$OUT"/*.txt
