#!/usr/bin/env bash
# The Kodak profiles table (docs/profiles.md) on a lent GPU machine, in one device call that
# ends inside its limit with whatever it measured. Run it through the device tool from the
# repository root, with the Kodak images and the constriction wheel carried:
#
#   here:    mkdir -p .gpu-kodak && cp ../shared/data/kodak/*.png .gpu-kodak/
#            echo /.gpu-kodak/ >> .git/info/exclude     (.whl: see training/README.md)
#   command: BUDGET=520 bash benchmarks/profiles_gpu.sh      timeout_s: 600
#   carry:   [".whl", ".gpu-kodak"]
#
# The working tree must stay under the device's 64 MiB: move the training hand-off
# checkpoint (36 MB, training/msp-default/checkpoint.pt) aside for the call, and
# `git checkout` it back after.
#
# Phases:
#   0. alone on the GPU: benchmarks/cuda_determinism.py and benchmarks/lof_profile.py on the
#      first image (with the time of an iteration of 1 and of 8 encodes run together), then
#      that image at λ = 0.013 with fast, quick and balanced (the smoke test of the CUDA path,
#      and encode times of one encode alone)
#   1. fast and balanced on every image at every λ of the model's ladder: WORKERS processes,
#      each with its share of the images, running BATCH LOF encodes together
#      (profiles_table.py --batch: images of one size, any λ)
#   2. max, then 3. quick, likewise, as long as BUDGET seconds allow
# Phase 0 may take up to 190 s of BUDGET (40 + 70 + 80 s caps).
# On the H200 (2026-12-04, BUDGET=525, before batching and the pass-geometry cache) 14
# processes of one encode each gave only 2.4× the throughput of one (a GPU time-slices
# processes): 42 encodes, `fast` and `balanced` on two images' full ladders. A `balanced`
# iteration at 768×512 took 0.2 s, mostly kernel launches; a batch launches them once for
# all its encodes (lof_profile.py's batch lines say what that buys).
# A phase cut off by the deadline loses only the batch in flight: every encode is appended
# to its worker's results file as its batch ends. SEED=FILE (JSON lines, carried) starts
# every worker's results from earlier encodes, reused where image, λ, profile settings,
# model and device match. $OUT gets the merged results (the cache format of
# benchmarks/profiles_table.py) and the logs; back here,
#   python benchmarks/profiles_table.py --cached-only --device cuda --batch BATCH \
#       --results FILE ...     (the batch size is part of a LOF row's key)
# builds the tables from them for the images each set of profiles covers.
#
# As a check on any machine (tiny crops, two λ, CPU):
#   OUT=/tmp/out DEVICE=cpu CROP=64x64 LAMBDAS=0.0035,0.0483 WORKERS=2 BATCH=4 BUDGET=150 \
#       PYTHON=.venv/bin/python IMAGES=../shared/data/kodak bash benchmarks/profiles_gpu.sh
set -uo pipefail
BUDGET=${BUDGET:-520}
WORKERS=${WORKERS:-2}
BATCH=${BATCH:-8}
SEED=${SEED:-}
DEVICE=${DEVICE:-cuda}
IMAGES=${IMAGES:-.gpu-kodak}
PYTHON=${PYTHON:-python3}
CROP=${CROP:-}
LAMBDAS=${LAMBDAS:-}
OUT=${OUT:?OUT must name the folder that comes back}
RESERVE=25  # seconds kept at the end for merging
die() { echo "profiles_gpu: $*" >&2; exit 2; }
ls "$IMAGES"/*.png >/dev/null 2>&1 || die "no PNG images in $IMAGES"
IMAGES=$(cd "$IMAGES" && pwd)

source training/carried_wheels.sh
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
WORK=$(mktemp -d)
mkdir -p "$WORK/results" "$WORK/logs"
LOG=$OUT/run.log
exec > >(tee -a "$LOG") 2>&1
command -v nvidia-smi >/dev/null && nvidia-smi -L
"$PYTHON" -c "import sys, torch, constriction; print('python', sys.version.split()[0],
    'torch', torch.__version__, 'cuda', torch.cuda.is_available())" || die "missing packages"

remaining() { echo $(( BUDGET - RESERVE - SECONDS )); }

if [ -z "$LAMBDAS" ]; then  # the shipped model's λ ladder
    LAMBDAS=$("$PYTHON" -c "from mspviewer.codec import load_model
print(','.join(f'{v:g}' for v in load_model(None).config.rate.lambdas))") || die "no model"
fi
echo "λ ladder: $LAMBDAS"
# each worker's share of the images, dealt in turn, and its results file (the cache of
# every phase, so that a later phase reuses the worker's fast encodes)
index=0
for image in $(ls "$IMAGES" | grep '\.png$'); do
    worker=$(( index % WORKERS )); index=$(( index + 1 ))
    mkdir -p "$WORK/images/$worker" && ln -sf "$IMAGES/$image" "$WORK/images/$worker/"
done
for worker in $(ls "$WORK/images"); do
    if [ -n "$SEED" ]; then cp "$SEED" "$WORK/results/$worker.jsonl"; fi
done

# phase PROFILES: every worker on its images, at once, until the budget's deadline.
phase() {
    local left; left=$(remaining)
    (( left > 10 )) || { echo "no time left for $1"; return; }
    echo "== $(date +%T) phase $1 (${left} s left)"
    local pids=()
    for worker in $(ls "$WORK/images"); do
        timeout -s TERM "$left" "$PYTHON" benchmarks/profiles_table.py \
            --images "$WORK/images/$worker" --device "$DEVICE" --profiles "$1" \
            --lambdas "$LAMBDAS" --batch "$BATCH" --allow-mismatch \
            --results "$WORK/results/$worker.jsonl" --doc - ${CROP:+--crop "$CROP"} \
            >> "$WORK/logs/$worker.log" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"  # not a bare wait: that would wait for the log's tee too
    echo "== $(date +%T) phase $1 ended"
}

first=$(ls "$IMAGES" | grep '\.png$' | head -1)
echo "== $(date +%T) is an encode decoded bit-exactly on this device?"
timeout -s TERM 40 "$PYTHON" benchmarks/cuda_determinism.py "$IMAGES/$first" --device "$DEVICE"
echo "== $(date +%T) where a LOF iteration's time goes"
timeout -s TERM 70 "$PYTHON" benchmarks/lof_profile.py "$IMAGES/$first" --device "$DEVICE" \
    --top 10 --batches 1,8 ${CROP:+--crop "$CROP"}
echo "== $(date +%T) phase 0: $first alone, λ 0.013, fast, quick and balanced"
mkdir -p "$WORK/solo" && ln -sf "$IMAGES/$first" "$WORK/solo/"
timeout -s TERM 80 "$PYTHON" benchmarks/profiles_table.py --images "$WORK/solo" \
    --device "$DEVICE" --profiles fast,quick,balanced --lambdas 0.013 --allow-mismatch \
    ${CROP:+--crop "$CROP"} --results "$OUT/profiles-gpu-solo.jsonl" --doc - 2>&1 | tail -30
# the smoke test: with no fast encode of the first image, the CUDA path is broken
grep -q '"profile": "fast"' "$OUT/profiles-gpu-solo.jsonl" 2>/dev/null \
    || die "phase 0 made no encode: see the log above"

phase fast,balanced
phase fast,max
phase fast,quick

# merged, each encode once (a SEED file's rows are in every worker's file)
shopt -s nullglob  # no results file (no phase had time): an empty merge, not an error
"$PYTHON" - "$WORK"/results/*.jsonl > "$OUT/profiles-gpu.jsonl" <<'PY'
import json, sys
rows = {}
for name in sys.argv[1:]:
    for line in open(name):
        if line.strip():
            row = json.loads(line)
            rows.setdefault(row["key"], line.rstrip("\n"))
if rows:
    print("\n".join(rows.values()))
PY
# the workers' logs without their per-job tables: encode lines, and any error in full
grep -v -h -E '^\||^$|^BD-rate|^J drop|^Measured|^- |^\*\*Partial' "$WORK"/logs/*.log \
    > "$OUT/worker-logs.txt" 2>/dev/null
echo "== $(date +%T) $(wc -l < "$OUT/profiles-gpu.jsonl") encodes in $SECONDS s"
"$PYTHON" - "$OUT/profiles-gpu.jsonl" <<'PY'
import collections, json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
done = collections.Counter(row["profile"] for row in rows)
print("encodes by profile:", dict(done))
PY
