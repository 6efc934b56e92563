#!/usr/bin/env bash
# Continue the shipped model's training run on a lent GPU machine, then hand back what the
# next session needs. Run it through the device tool from the repository root:
#
#   command: MINUTES=8 bash training/gpu_session.sh
#   carry:   [".whl", ".gpu-data"]      (see training/README.md, "On a lent GPU machine")
#
# $OUT receives: the run's hand-off checkpoint in 15 MB parts (files come back 16 MiB at a
# time), the model exported from the run's moving average and its card, the learning-curve
# log, and the trainer's output. As a check here (any machine):
#   OUT=/tmp/out RUN_DIR=/tmp/gpu-check DEVICE=cpu MINUTES=0.3 PYTHON=.venv/bin/python \
#       DATA=/tmp/gpu-data bash training/gpu_session.sh
set -euo pipefail
MINUTES=${MINUTES:-8}
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu-data}
RUN_DIR=${RUN_DIR:-runs/msp-default}
PYTHON=${PYTHON:-python3}
OUT=${OUT:?OUT must name the folder that comes back}
if ls .whl/*.whl >/dev/null 2>&1; then  # constriction is not in the device image
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
if [ -e "$RUN_DIR/checkpoint.pt" ]; then
    echo "$RUN_DIR already holds a checkpoint: not overwriting it" >&2; exit 2
fi
mkdir -p "$RUN_DIR"
cp training/msp-default/checkpoint.pt training/msp-default/log.jsonl "$RUN_DIR"/
"$PYTHON" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
# SIGTERM after MINUTES: the trainer finishes its step, checkpoints and exits cleanly.
timeout -s TERM "$("$PYTHON" -c "print(int(float('$MINUTES') * 60))")" \
    "$PYTHON" -m mspviewer train "$DATA" --run-dir "$RUN_DIR" --resume --device "$DEVICE" \
        --steps 400000 --crop 0:128,60000:256 --lr 2e-4 --warmup 1000 --lr-drop 300000 \
        --no-progress 2>&1 | tee "$OUT/train-stdout.log" || true
"$PYTHON" -m mspviewer pack-checkpoint "$RUN_DIR/checkpoint.pt" -o /tmp/handoff.pt
split -b 15000000 -d /tmp/handoff.pt "$OUT/checkpoint.pt.part-"
"$PYTHON" -m mspviewer export-model "$RUN_DIR/checkpoint.pt" -o "$OUT/msp-default.pt" >/dev/null
cp "$RUN_DIR/log.jsonl" "$OUT/"
ls -l "$OUT"
