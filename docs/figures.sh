#!/usr/bin/env bash
# Regenerates the viewer's pictures in README.md (docs/*.png but the RD plot and the learning
# curve, which `mspviewer report` and `mspviewer.train.curve` draw) with the shipped model, and
# measures the channel-usage table of docs/architecture.md. Each screenshot prints the numbers
# the text beside it quotes (bpp and PSNR, "LOF change", the λ ladder's BD-rates), so that
# text can be updated from the same run. Run it from the repository root after shipping a
# model. Measured on a 2-core machine with nothing else running: the pictures took 10 minutes
# with THREADS=1 and CHANNELS=0, while the channel table (7 minutes, one thread) ran beside
# them as its own command, `python benchmarks/channel_usage.py KODAK_DIR`:
#
#     bash docs/figures.sh [KODAK_DIR] 2>&1 | tee runs/figures.log
#
# CHANNELS=0 skips the channel-usage table (7 minutes on one thread). THREADS=1 runs the viewer
# on one thread: on a machine busy with other work (a training run), contended threads make
# LOF many times slower; LOF's rounding choices, and so the numbers, may follow the count.
set -euo pipefail

KODAK=${1:-../shared/data/kodak}
MSPVIEWER=${MSPVIEWER:-.venv/bin/mspviewer}
PYTHON=${PYTHON:-.venv/bin/python}
KODIM23="$KODAK/kodim23.png"
export QT_QPA_PLATFORM=offscreen

if [ ! -f "$KODIM23" ]; then
    echo "figures.sh: no $KODIM23 (give the Kodak folder as the first argument)" >&2
    exit 2
fi

shot() {
    echo "== mspviewer --screenshot $*"
    "$MSPVIEWER" ${THREADS:+--threads "$THREADS"} --screenshot "$@"
}

# README: the main window, and the panels of "Seeing inside the probability model".
shot docs/screenshot.png --image "$KODIM23" --lambda 0.013 --inspect 408,152 --ladder
shot docs/inspector.png --image "$KODIM23" --lambda 0.013 --inspect 408,152 --panel inspector \
    --pmf-view bits
shot docs/replay.png --image "$KODIM23" --lambda 0.013 --inspect 408,152 \
    --replay-steps 4,12,28 --panel replay
shot docs/channels.png --image "$KODIM23" --lambda 0.013 --bits-view channels --channel 29 \
    --panel bits --third-pane none
# LOF: minutes on idle cores, far longer beside other work; a shot that runs out of time
# fails and stops the script (the picture it saved shows the window unfinished)
shot docs/lof-change.png --image "$KODIM23" --crop 256,0,384,256 --profile balanced \
    --lambda 0.013 --third-pane msp-plain --latents lof_bits --timeout 3600
shot docs/lof-gain.png --image "$KODIM23" --crop 320,32,128,128 --lambda 0.013 \
    --ladder fast,balanced --panel rd --timeout 3600

if [ "${CHANNELS:-1}" != 0 ]; then
    # docs/architecture.md's table, and kodim23's own counts quoted under "Bits per channel"
    echo "== python benchmarks/channel_usage.py $KODAK"
    "$PYTHON" benchmarks/channel_usage.py "$KODAK" 2> >(grep kodim23 >&2)
fi
