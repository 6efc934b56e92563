"""The event loop keeps running while the model encodes: the longest pause between ticks of a
10 ms timer, over a whole encode (encode, decode check, PSNR / MS-SSIM, and every panel
filled with the result), stays under 150 ms on a machine with a core to spare. Measured: 20–50
ms on a quiet 2-core machine, about 100 ms on the same machine type on a day it ran at half
speed (every step of training took twice as long), with the code of either day: the limit
is that slower machine's figure with headroom, far below a real stall.

On an oversubscribed machine (other jobs beside the tests) the timer thread also waits for
a core, whatever this program does, so the limit scales with the load measured before the
test starts: load 3 on 2 cores allows 225 ms. A real stall (a worker holding the
interpreter lock through a network pass) lasts hundreds of milliseconds either way."""

from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("pytestqt")

from gui_support import TickRecorder, make_window, wait_idle, write_png  # noqa: E402

MAX_GAP_S = 0.150
MIN_ENCODE_S = 1.0
#: Image sizes tried in turn until one keeps the model busy for MIN_ENCODE_S (the time
#: depends on how loaded the machine is); every run's gaps count.
SIZES = ((256, 384), (384, 512), (512, 768), (768, 1152))


@pytest.fixture(scope="module")
def medium_model():
    """Random weights, full-width transforms: slow enough per pixel that a small image
    (cheap for the GUI to draw) keeps it busy for a second."""
    from mspviewer.codec import MSPConfig, ModelConfig, TransformConfig, build_random_model

    config = ModelConfig(transform=TransformConfig(channels=128, latent_channels=128),
                         msp=MSPConfig(num_groups=4, context_width=64, group_width=64,
                                       coarsest_width=32))
    return build_random_model(config, seed=3)


def gap_limit_s() -> float:
    """MAX_GAP_S, scaled by how oversubscribed the machine already is (1-minute load)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return MAX_GAP_S
    return MAX_GAP_S * max(1.0, load / (os.cpu_count() or 1))


def test_event_loop_never_stalls_during_an_encode(qtbot, medium_model, tmp_path):
    limit_s = gap_limit_s()
    window = make_window(qtbot, medium_model, tmp_path)
    window.controls.set_profile("fast")
    window.controls.set_lambda(0.01)
    runs = []
    for height, width in SIZES:
        path = tmp_path / f"stall-{height}x{width}.png"
        write_png(path, height, width, seed=11)
        window.open_path(path)
        wait_idle(qtbot, window)
        qtbot.wait(50)
        ticks = TickRecorder(10)
        ticks.start()
        start = time.perf_counter()
        window.start_encode()
        wait_idle(qtbot, window, timeout_ms=60_000)
        busy_s = time.perf_counter() - start
        qtbot.wait(30)  # the ticks right after the result was drawn count too
        ticks.stop()
        result = window.session.result
        assert result is not None and not window.errors
        assert result.original.shape == (height, width, 3)
        assert window.latents.layers and window.bits.allocation is not None  # panels filled
        runs.append((height, width, busy_s, ticks.longest_gap(), len(ticks.times)))
        if busy_s >= MIN_ENCODE_S:
            break
    report = "; ".join(f"{h}×{w}: {busy:.2f} s, longest gap {gap * 1000:.0f} ms, {n} ticks"
                       for h, w, busy, gap, n in runs)
    report += f" (limit {limit_s * 1000:.0f} ms)"
    print(f"event-loop stall test: {report}")
    assert runs[-1][2] >= MIN_ENCODE_S, f"no encode lasted {MIN_ENCODE_S} s: {report}"
    assert max(gap for *_, gap, _ in runs) < limit_s, f"the event loop stalled: {report}"
