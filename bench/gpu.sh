#!/usr/bin/env bash
# The GPU checks of a session with a lent GPU (../shared/gpu.md): install what the GPU machine
# lacks from wheels in .whl/ (soundfile, librosa, tabulate and their small dependencies), then run
# the official-settings calibration of the synthetic data and the training benchmark on CUDA,
# each under a timeout, writing every output to $OUT.
#
#   run (device tool):  bash bench/gpu.sh        with .whl carried beside the checkout
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl > "$OUT/pip.txt" 2>&1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 ASDLIB_CACHE=/tmp/cache OMP_NUM_THREADS=2
{ nvidia-smi --query-gpu=name,memory.total --format=csv; nproc; \
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } > "$OUT/machine.txt" 2>&1
start=$(date +%s)
timeout 90 python3 -m asdlib.cli synth --out /tmp/d --profile book --quiet --workers 14 > "$OUT/synth.txt" 2>&1
echo "synth: $(( $(date +%s) - start )) s" >> "$OUT/times.txt"
start=$(date +%s)
timeout "${CALIBRATE_S:-330}" python3 bench/calibrate.py --out /tmp/cal --data /tmp/d --settings official \
  --workers 6 --device cuda > "$OUT/calibrate-official.txt" 2>&1
echo "calibrate (official settings): $(( $(date +%s) - start )) s, exit $?" >> "$OUT/times.txt"
start=$(date +%s)
timeout "${BENCH_S:-150}" python3 bench/training.py --device cuda > "$OUT/training-cuda.txt" 2>&1
echo "bench/training.py --device cuda: $(( $(date +%s) - start )) s" >> "$OUT/times.txt"
tail -n 40 "$OUT"/*.txt
