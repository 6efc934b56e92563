#!/usr/bin/env bash
# Continue the shipped model's training run on a lent GPU machine, then hand back what the
# next session needs. Run it through the device tool from the repository root:
#
#   command: MINUTES=6 bash training/gpu_session.sh      timeout_s: 600
#   carry:   [".whl", ".gpu-data"]      (see training/README.md, "On a lent GPU machine")
#
# $OUT receives, in this order: the learning-curve log and the trainer's output, the run's
# hand-off checkpoint in 15 MB parts (files come back 16 MiB at a time), and the model
# exported from the run's moving average with its card. As a check here (any machine):
#   OUT=/tmp/out RUN_DIR=/tmp/gpu-check DEVICE=cpu MINUTES=0.3 PYTHON=.venv/bin/python \
#       DATA=/tmp/gpu-data bash training/gpu_session.sh
set -euo pipefail
MINUTES=${MINUTES:-6}
COMPILE=${COMPILE:-}  # non-empty: train with --compile (its gain on CUDA is not measured yet)
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu-data}
RUN_DIR=${RUN_DIR:-runs/msp-default}
PYTHON=${PYTHON:-python3}
OUT=${OUT:?OUT must name the folder that comes back}
die() { echo "gpu_session: $*" >&2; exit 2; }

[[ $MINUTES =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ $MINUTES != 0 && $MINUTES != 0.0 ]] \
    || die "MINUTES must be a positive number, got '$MINUTES'"
[ -d "$DATA" ] || die "no training data at $DATA (training/make_data_pack.py makes it)"
[ -e "$RUN_DIR/checkpoint.pt" ] && die "$RUN_DIR already holds a checkpoint: not overwriting it"

source training/carried_wheels.sh
"$PYTHON" - "$DEVICE" <<'PY' || die "this machine cannot run the trainer on that device"
import sys
import torch
import constriction  # noqa: F401  (the codec needs it; carried as a wheel)
device = sys.argv[1]
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"cuda {torch.cuda.is_available()}"
      + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit(1)
PY

mkdir -p "$RUN_DIR"
cp training/msp-default/checkpoint.pt training/msp-default/log.jsonl "$RUN_DIR"/
checkpoint_step() {
    "$PYTHON" -c "import sys, torch; print(torch.load(sys.argv[1], weights_only=True)['step'])" "$1"
}
start_step=$(checkpoint_step "$RUN_DIR/checkpoint.pt")

# SIGTERM after MINUTES: the trainer finishes its step, checkpoints and exits cleanly (124
# is that timeout); 60 s later a trainer still running is killed. Any other status is a
# failure and stops the session before it packs an untrained checkpoint.
set +e
timeout -k 60 -s TERM "${MINUTES}m" \
    "$PYTHON" -m mspviewer train "$DATA" --run-dir "$RUN_DIR" --resume --device "$DEVICE" \
        --steps 400000 --crop 0:128,46000:256 --lr 2e-4 --warmup 1000 --lr-drop 300000 \
        ${COMPILE:+--compile} --no-progress > "$OUT/train-stdout.log" 2>&1
status=$?
set -e
cp "$RUN_DIR/log.jsonl" "$OUT/"
cat "$OUT/train-stdout.log"
[[ $status == 0 || $status == 124 ]] || die "training failed (exit $status)"
end_step=$(checkpoint_step "$RUN_DIR/checkpoint.pt")
(( end_step > start_step )) || die "no training step was saved (step $start_step)"
echo "trained steps $start_step → $end_step"

"$PYTHON" -m mspviewer pack-checkpoint "$RUN_DIR/checkpoint.pt" -o "$SITE/handoff.pt"
split -b 15000000 -d "$SITE/handoff.pt" "$OUT/checkpoint.pt.part-"
"$PYTHON" -m mspviewer export-model "$RUN_DIR/checkpoint.pt" -o "$OUT/msp-default.pt" >/dev/null
ls -l "$OUT"
