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
#      first image, then that image at λ = 0.013 with every profile (the smoke test of the
#      CUDA path, and encode times without contention)
#   1. fast and balanced on every image at every λ of the model's ladder, each image at one
#      λ a job for one of WORKERS processes sharing the GPU, image after image
#   2. max, then 3. quick, likewise, as long as BUDGET seconds allow
# Phase 0 may take up to 250 s of BUDGET (60 + 90 + 100 s caps; about 110 s on the H200).
# On the H200 (2026-12-04, BUDGET=525 WORKERS=14, before the pass-geometry cache) 14
# processes gave 2.4× the throughput of one: 42 encodes, `fast` and `balanced` on two
# images' full ladders; fewer workers may do as well (lof_profile.py's output says).
# A job cut off by the deadline loses only its encode in flight: every encode is appended to
# its job's results file as it ends. $OUT gets the merged results (JSON lines, the cache
# format of benchmarks/profiles_table.py) and the logs; back here,
#   python benchmarks/profiles_table.py --cached-only --device cuda --results FILE ...
# builds the tables from them for the images each set of profiles covers.
#
# As a check on any machine (tiny crops, two λ, CPU):
#   OUT=/tmp/out DEVICE=cpu CROP=64x64 LAMBDAS=0.0035,0.0483 WORKERS=2 BUDGET=120 \
#       PYTHON=.venv/bin/python IMAGES=../shared/data/kodak bash benchmarks/profiles_gpu.sh
set -uo pipefail
BUDGET=${BUDGET:-520}
WORKERS=${WORKERS:-12}
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

SITE=$(mktemp -d)
if ls .whl/*.whl >/dev/null 2>&1; then  # constriction is not in the device image
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$SITE" .whl/*.whl || die "the carried wheels did not install"
fi
export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$OUT"
WORK=$(mktemp -d)
mkdir -p "$WORK/results" "$WORK/logs"
LOG=$OUT/run.log
exec > >(tee -a "$LOG") 2>&1
command -v nvidia-smi >/dev/null && nvidia-smi -L
"$PYTHON" -c "import sys, torch, constriction; print('python', sys.version.split()[0],
    'torch', torch.__version__, 'cuda', torch.cuda.is_available())" || die "missing packages"

remaining() { echo $(( BUDGET - RESERVE - SECONDS )); }

# run_job NAME λ PROFILES: one image at one λ, into the job's own results file (the cache,
# so a later phase's job reuses its fast encode).
run_job() {
    local job=${1%.png}-$2
    mkdir -p "$WORK/images/$job" && ln -sf "$IMAGES/$1" "$WORK/images/$job/"
    "$PYTHON" benchmarks/profiles_table.py --images "$WORK/images/$job" --device "$DEVICE" \
        --profiles "$3" --lambdas "$2" --allow-mismatch \
        --results "$WORK/results/$job.jsonl" --doc - ${CROP:+--crop "$CROP"} \
        >> "$WORK/logs/$job.log" 2>&1
    local status=$?
    echo "$(date +%T) $job $3: exit $status"
}
export -f run_job
export WORK DEVICE IMAGES PYTHON CROP

if [ -z "$LAMBDAS" ]; then  # the shipped model's λ ladder
    LAMBDAS=$("$PYTHON" -c "from mspviewer.codec import load_model
print(','.join(f'{v:g}' for v in load_model(None).config.rate.lambdas))") || die "no model"
fi
echo "λ ladder: $LAMBDAS"
# jobs image by image, so that images complete one after another when the deadline cuts
JOBS=$WORK/jobs
for image in $(ls "$IMAGES" | grep '\.png$'); do
    for lam in ${LAMBDAS//,/ }; do echo "$image $lam"; done
done > "$JOBS"

# phase PROFILES: every job, WORKERS at a time, until the budget's deadline.
phase() {
    local left; left=$(remaining)
    (( left > 10 )) || { echo "no time left for $1"; return; }
    echo "== $(date +%T) phase $1 (${left} s left)"
    timeout -s TERM "$left" xargs -P "$WORKERS" -L 1 \
        bash -c 'run_job "$1" "$2" "$3"' _ < <(sed "s/\$/ $1/" "$JOBS")
}

first=$(ls "$IMAGES" | grep '\.png$' | head -1)
echo "== $(date +%T) is an encode decoded bit-exactly on this device?"
timeout -s TERM 60 "$PYTHON" benchmarks/cuda_determinism.py "$IMAGES/$first" --device "$DEVICE"
echo "== $(date +%T) where a LOF iteration's time goes"
timeout -s TERM 90 "$PYTHON" benchmarks/lof_profile.py "$IMAGES/$first" --device "$DEVICE" \
    ${CROP:+--crop "$CROP"}
echo "== $(date +%T) phase 0: $first alone, λ 0.013, every profile"
mkdir -p "$WORK/solo" && ln -sf "$IMAGES/$first" "$WORK/solo/"
timeout -s TERM 100 "$PYTHON" benchmarks/profiles_table.py --images "$WORK/solo" \
    --device "$DEVICE" --profiles fast,quick,balanced,max --lambdas 0.013 --allow-mismatch \
    ${CROP:+--crop "$CROP"} --results "$OUT/profiles-gpu-solo.jsonl" --doc - 2>&1 | tail -30
# the smoke test: with no fast encode of the first image, the CUDA path is broken
grep -q '"profile": "fast"' "$OUT/profiles-gpu-solo.jsonl" 2>/dev/null \
    || die "phase 0 made no encode: see the log above"

phase fast,balanced
phase fast,max
phase fast,quick

cat "$WORK"/results/*.jsonl > "$OUT/profiles-gpu.jsonl" 2>/dev/null
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
