#!/usr/bin/env bash
# The book's grids (grids/book.yml, then grids/book-compact.yml) on a lent GPU machine
# (../shared/gpu.md): one H100/H200 and 16 cores run WORKERS notebooks at once, all on the one GPU,
# with the official-settings calibration of the data (bench/calibrate.py) beside them when
# CALIBRATE=1. Each grid stops at its deadline (SIGTERM: the runner shuts its cluster down;
# unfinished runs are redone when the grid is resumed). The grid folders come back as tarballs
# without model weights; unpacked into _build/grid-book*, `make results` resumes them on this
# machine: a grid folder made elsewhere is the same grid when its runs' parameters and the data's
# fingerprint and generator agree.
#
#   run (device tool):  bash bench/gpu-grid.sh      with .whl carried beside the checkout
#   BOOK_MACHINES=pump,valve COMPACT_MACHINES=gearbox  remake only these machine types' runs
#   (COMPACT_MACHINES=none skips that grid)
set -u
OUT=${OUT:-/tmp/gpu-out}
WORKERS=${WORKERS:-14}
END=$(( $(date +%s) + ${TOTAL_S:-480} ))
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl > "$OUT/pip.txt" 2>&1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total --format=csv; nproc; \
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } > "$OUT/machine.txt" 2>&1
start=$(date +%s)
timeout 90 python3 -m asdlib.cli synth --out /tmp/d --profile book --quiet --workers 16 > "$OUT/synth.txt" 2>&1
echo "synth: $(( $(date +%s) - start )) s" >> "$OUT/times.txt"
if [ "${CALIBRATE:-0}" = 1 ]; then
  ( start=$(date +%s); OMP_NUM_THREADS=1 timeout $(( END - start )) python3 bench/calibrate.py --out /tmp/cal \
      --data /tmp/d --settings official --workers "${CAL_WORKERS:-4}" --device cuda > "$OUT/calibrate-official.txt" 2>&1
    echo "calibrate (official settings): $(( $(date +%s) - start )) s, exit $?" >> "$OUT/times.txt" ) &
fi
for grid in book book-compact; do
  left=$(( END - $(date +%s) ))
  [ "$left" -gt 30 ] || break
  if [ "$grid" = book ]; then machines=${BOOK_MACHINES:-}; else machines=${COMPACT_MACHINES:-}; fi
  [ "$machines" = none ] && continue
  start=$(date +%s)
  timeout -k 20 "$left" python3 -m asdlib.cli run "grids/$grid.yml" --data /tmp/d --out "/tmp/grid-$grid" \
    ${machines:+--machines "$machines"} --workers "$WORKERS" --quiet > "$OUT/grid-$grid.txt" 2>&1
  rc=$?
  echo "grid $grid ${machines}: $(( $(date +%s) - start )) s, exit $rc, complete runs: $(ls /tmp/grid-$grid/runs/*/result.json 2>/dev/null | wc -l)" >> "$OUT/times.txt"
  tar --exclude=model.pt --exclude=cache -czf "$OUT/grid-$grid.tgz" -C "/tmp/grid-$grid" .
done
wait
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> "$OUT/machine.txt" 2>&1
tail -n 40 "$OUT"/*.txt
