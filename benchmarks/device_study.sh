#!/usr/bin/env bash
# The final studies on a lent GPU machine (16 CPU cores, one GPU), in one call (the records of
# docs/results.md are from the development CPU; this script is for a machine with more cores):
#   - classification, all six views of the bundled digits, every method, seeds 0-9;
#   - segmentation on synthetic RGB-D scenes, every method, seeds 0-2.
# Results are per-(arm, seed) JSON records under $ROOT (reused when rerun).
#   ROOT=runs/study OUT=/tmp/out bash benchmarks/device_study.sh
set -u
ROOT=${ROOT:-runs/study}
LIMIT=${LIMIT:-540}
export PYTHONPATH=src:.
export PYTHONUNBUFFERED=1
python3 -c "import torch, lightning, torchmetrics; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
nproc
CLS=teacher,teacher-noisy,specialists,customized,dropout,sp,kd,mad,mar,mmanet,mmanet-paper,mmanet-plus,plus-r2-mm
SEG=teacher,specialists,customized,dropout,sp,kd,mad,mar,mmanet,mmanet-plus,plus-r2-mm
timeout "$LIMIT" python3 benchmarks/study.py --root "$ROOT" run --phase final --setting six --seeds 0-9 --arms "$CLS" --jobs 13 --chunks 9 --set trainer.accelerator=auto > "$ROOT.six.log" 2>&1 &
timeout "$LIMIT" python3 benchmarks/study.py --root "$ROOT" run --phase final --setting seg --seeds 0-2 --arms "$SEG" --jobs 3 > "$ROOT.seg.log" 2>&1 &
wait
tail -n 3 "$ROOT.six.log" "$ROOT.seg.log"
find "$ROOT" -name "seed_*.json" | wc -l
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/study_records.tgz" $(find "$ROOT" -name "seed_*.json") "$ROOT.six.log" "$ROOT.seg.log"
  find "$ROOT" -name predictions.png -path "*seg*mmanet*" | head -1 | xargs -r -I{} cp {} "$OUT/seg_predictions.png"
fi
python3 benchmarks/dense_mad_memory.py --json "${OUT:-/tmp}/dense_mad_memory.json" || true
