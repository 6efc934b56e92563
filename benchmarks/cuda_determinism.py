"""Is a CUDA encode decoded bit-exactly on the same GPU, and which arithmetic settings matter?

With cuDNN's defaults (TF32 on, heuristic algorithm choice), three syntheses of one random
latent are compared; then, with the settings the codec uses on CUDA
(``use_exact_cuda_arithmetic``), for one image and λ: two compresses, the decode of the
first, and two syntheses of its latent, all bit for bit.
Prints one line per comparison (``equal`` or the largest difference and how many values
differ); exits 1 if the codec's own settings leave a difference.

    python benchmarks/cuda_determinism.py IMAGE [--lambda 0.013]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mspviewer.codec import load_model  # noqa: E402
from mspviewer.codec.api import image_to_tensor, tensor_to_image  # noqa: E402
from mspviewer.codec.model import use_exact_cuda_arithmetic  # noqa: E402
from mspviewer.errors import MSPViewerError  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402


def difference(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> str:
    a = torch.as_tensor(a).double().cpu()
    b = torch.as_tensor(b).double().cpu()
    unequal = int((a != b).sum())
    return "equal" if unequal == 0 else (
        f"{unequal} values differ, by up to {float((a - b).abs().max()):.3g}")


def compare(model, x, lam, pixels_shape) -> bool:
    first = model.compress(x, lam)
    second = model.compress(x, lam)
    exact = first.bitstream == second.bitstream
    print(f"  two compresses: bitstreams {'equal' if exact else 'differ'}, "
          f"latents {difference(first.y_hat, second.y_hat)}")
    try:
        decoded = model.decompress(first.bitstream)
    except MSPViewerError as error:
        print(f"  decode: {error}")
        return False
    print(f"  decoder's latent vs encoder's: {difference(decoded.y_hat, first.y_hat)}")
    point = model.rate_point(first.analysis.lam)
    with torch.no_grad():
        images = [model.synthesise(first.y_hat, point, pixels_shape).clamp(0, 1)
                  for _ in range(2)]
    print(f"  two syntheses of one latent: {difference(*images)}")
    encoder_pixels = tensor_to_image(images[0])
    decoder_pixels = tensor_to_image(decoded.image)
    print(f"  decoded pixels vs encoder's reconstruction: "
          f"{difference(decoder_pixels, encoder_pixels)}")
    return exact and bool(np.array_equal(decoder_pixels, encoder_pixels)) and bool(
        torch.equal(decoded.y_hat, first.y_hat))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--lambda", dest="lam", type=float, default=0.013)
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu as a check")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here")
    model = load_model(None, device=args.device)
    pixels = load_image(args.image).pixels
    x = image_to_tensor(pixels, args.device)
    with torch.no_grad():
        # cuDNN's defaults, set again here since loading the model switched them off
        print("cuDNN defaults (TF32 on, heuristic algorithms), synthesis only:")
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.allow_tf32 = True
        point = model.rate_point(args.lam)
        y = torch.round(torch.randn(1, model.config.transform.latent_channels,
                                    -(-pixels.shape[0] // 16), -(-pixels.shape[1] // 16),
                                    device=args.device,
                                    generator=torch.Generator(args.device).manual_seed(0)))
        images = [model.synthesise(y, point, pixels.shape[:2]) for _ in range(3)]
        print(f"  three syntheses: {difference(images[0], images[1])}; "
              f"{difference(images[0], images[2])}")
        print("the codec's settings (use_exact_cuda_arithmetic):")
        use_exact_cuda_arithmetic()
        exact = compare(model, x, args.lam, pixels.shape[:2])
    print("bit-exact" if exact else "NOT bit-exact")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
