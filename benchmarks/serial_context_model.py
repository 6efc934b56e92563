"""A serial autoregressive context model, used ONLY as a timing reference for MSP.

This is not a codec of the project and is never trained: its weights are random. It exists
so that ``benchmarks/decode_speed.py`` can show what decoding costs when every latent
position depends on the ones before it, as in the context model of Minnen, Ballé and
Toderici (NeurIPS 2018):

- a 5×5 masked convolution of mask type A (only the 12 causal neighbours: the two rows
  above and the two positions to the left), M → 2M channels;
- a 1×1 entropy-parameter network (4M → 10M/3 → 8M/3 → 2M, LeakyReLU) on the context
  features concatenated with 2M hyperprior features; it yields μ and σ for the M channels.

The hyperprior branch (decoding z and running h_s) is fully parallel in such codecs and is
left out: its 2M features are a fixed plane here. The reference is therefore a slight
*under*-estimate of a real Minnen-2018 decoder.

Decoding visits the h×w positions in raster order; at each one it runs the masked
convolution on the 5×5 neighbourhood, the entropy-parameter network, range-decodes the M
channels of that position with the project's :class:`SymbolDecoder` (constriction's
QuantizedGaussian, σ snapped to the project's σ table) and writes ŷ = μ + symbol before it
moves on. Encoding runs the very same loop (so μ, σ agree bit for bit with the decoder).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from mspviewer.codec.entropy import SymbolDecoder, SymbolEncoder
from mspviewer.codec.sigma_table import SigmaTable

KERNEL = 5
HALF = KERNEL // 2


def causal_mask_type_a() -> torch.Tensor:
    """5×5 mask: 1 above the centre row and left of the centre; 0 at and after the centre."""
    mask = torch.zeros(KERNEL, KERNEL)
    mask[:HALF, :] = 1
    mask[HALF, :HALF] = 1
    return mask


class SerialContextModel(nn.Module):
    def __init__(self, latent_channels: int, sigma_table: SigmaTable, symbol_bound: int,
                 seed: int = 0):
        super().__init__()
        m = latent_channels
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            self.context = nn.Conv2d(m, 2 * m, KERNEL, padding=HALF)  # masked by self.mask
            # 1×1 convolutions evaluated at one position are linear layers.
            self.entropy_parameters = nn.Sequential(
                nn.Linear(4 * m, 10 * m // 3), nn.LeakyReLU(),
                nn.Linear(10 * m // 3, 8 * m // 3), nn.LeakyReLU(),
                nn.Linear(8 * m // 3, 2 * m))
        finally:
            torch.random.set_rng_state(generator_state)
        self.register_buffer("mask", causal_mask_type_a().view(1, 1, KERNEL, KERNEL))
        self.latent_channels = m
        self.sigma_table = sigma_table
        self.symbol_bound = symbol_bound

    def hyper_features(self, height: int, width: int) -> torch.Tensor:
        """Stand-in for the (parallel) hyperprior output: a fixed (h, w, 2M) plane."""
        generator = torch.Generator().manual_seed(1)
        plane = torch.randn(height, width, 2 * self.latent_channels, generator=generator)
        return plane.to(self.mask.device)

    def masked_context(self, y_hat: torch.Tensor) -> torch.Tensor:
        """The masked convolution over a whole ŷ (1, M, h, w), for checking the serial loop."""
        return nn.functional.conv2d(y_hat, self.context.weight * self.mask, self.context.bias,
                                    padding=HALF)

    def _causal_weight(self) -> torch.Tensor:
        """The masked kernel on its 12 nonzero taps, as a (2M, 12·M) matrix.

        Taps are ordered as the loop gathers them: the 2×5 rows above, then the 2 on the
        left; within a tap, channels. Zero taps of the mask are skipped, not multiplied.
        """
        weight = self.context.weight.permute(0, 2, 3, 1)  # (2M, 5, 5, M)
        above = weight[:, :HALF, :, :].reshape(2 * self.latent_channels, -1)
        left = weight[:, HALF, :HALF, :].reshape(2 * self.latent_channels, -1)
        return torch.cat([above, left], dim=1).contiguous()

    def run(self, height: int, width: int,
            decide: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor],
            positions: int | None = None) -> torch.Tensor:
        """Visit positions in raster order; ``decide(k, mu, sigma)`` returns ŷ at position k.

        ``positions`` limits the loop to a prefix (for timing a measured prefix only).
        Returns ŷ (1, M, height, width); positions not visited stay zero.
        """
        m = self.latent_channels
        weight, bias = self._causal_weight(), self.context.bias
        hyper = self.hyper_features(height, width)
        # ŷ channels-last with the convolution's zero border of 2, so a position's causal
        # neighbours are two contiguous runs (rows above) and one (left).
        padded = torch.zeros(height + 2 * HALF, width + 2 * HALF, m, device=self.mask.device)
        count = height * width if positions is None else min(positions, height * width)
        for k in range(count):
            row, col = divmod(k, width)  # padded (row + 2, col + 2) is the current position
            neighbours = torch.cat([padded[row:row + HALF, col:col + KERNEL].reshape(-1),
                                    padded[row + HALF, col:col + HALF].reshape(-1)])
            context = torch.addmv(bias, weight, neighbours)  # masked 5×5 conv at (row, col)
            mu, raw_sigma = self.entropy_parameters(
                torch.cat([context, hyper[row, col]])).view(2, m)
            sigma = nn.functional.softplus(raw_sigma)
            padded[row + HALF, col + HALF] = decide(k, mu, sigma)
        return padded[HALF:height + HALF, HALF:width + HALF].permute(2, 0, 1).unsqueeze(0)

    @torch.no_grad()
    def encode(self, y: torch.Tensor, positions: int | None = None):
        """Serially code ``y`` (1, M, h, w): returns (words, symbols (n, M), ŷ)."""
        _, m, height, width = y.shape
        encoder = SymbolEncoder(self.sigma_table, self.symbol_bound)
        y_flat = y[0].reshape(m, height * width)
        coded = []

        def decide(k: int, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            symbols = torch.round(y_flat[:, k] - mu)
            symbols_np = symbols.to("cpu", torch.int64).numpy()
            encoder.encode_pass(symbols_np, self.sigma_table.index_of(sigma).cpu().numpy())
            coded.append(symbols_np)
            return mu + symbols

        y_hat = self.run(height, width, decide, positions)
        words, _ = encoder.finish()
        return words, np.stack(coded), y_hat

    @torch.no_grad()
    def decode(self, words: np.ndarray, height: int, width: int,
               positions: int | None = None):
        """Serially decode: returns (symbols (n, M), ŷ (1, M, h, w))."""
        decoder = SymbolDecoder(self.sigma_table, self.symbol_bound, words)
        decoded = []

        def decide(k: int, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            symbols = decoder.decode_pass(self.sigma_table.index_of(sigma).cpu().numpy())
            decoded.append(symbols)
            return mu + torch.from_numpy(symbols).to(mu.device, mu.dtype)

        y_hat = self.run(height, width, decide, positions)
        return np.stack(decoded), y_hat
