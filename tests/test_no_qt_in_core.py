"""The codec core imports no Qt: proven by importing it with Qt imports blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_core_works_with_qt_blocked():
    script = textwrap.dedent("""
        import sys, importlib.abc

        class BlockQt(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph"}:
                    raise ImportError(f"Qt import blocked: {name}")
                return None

        sys.meta_path.insert(0, BlockQt())
        import numpy as np
        import mspviewer.codec, mspviewer.imageio, mspviewer.metrics, mspviewer.train.loop
        from mspviewer.cli import build_parser
        build_parser()  # every sub-command module imports cleanly
        from mspviewer.codec import build_random_model, tiny_config, encode_image, decode_bytes
        model = build_random_model(tiny_config())
        pixels = np.full((20, 30, 3), 90, np.uint8)
        encoded = encode_image(model, pixels, 0.01)
        assert (decode_bytes(model, encoded.bitstream).pixels == encoded.reconstruction).all()
        loaded = [m for m in sys.modules if m.split(".")[0] in {"PySide6", "pyqtgraph"}]
        assert not loaded, loaded
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
