"""Compiling the model's networks for training (``mspviewer train --compile``).

Only the networks are compiled, each in place (``nn.Module.compile``): the analysis and
synthesis transforms and every network of the MSP prior. The model's ``forward`` around them
stays eager, for two reasons measured with ``torch._dynamo.explain``: the rate point of a λ
is a Python value (a bisection on the ladder), so a compiled whole model recompiles for each
of the ladder's λ (49 s each here, 150 s for the first); and the lattice indices come from
``nonzero``, whose data-dependent shape breaks the graph 31 times. The networks see tensors
only, of one shape per crop size, so they compile once per crop.

On the 2-core AVX-512 BF16 CPU, a step of 8 crops of 256² in bf16 took 0.60–0.66 s compiled
against 0.73–0.81 s eager (about 1.2×, alternated in one run; the whole model compiled was no
faster). The first step pays the compilation: about 30 s with inductor's disk cache warm,
2–3 minutes cold. State-dict keys do not change, so checkpoints are the same either way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import torch
from torch import nn

from mspviewer.errors import TrainingError


def trained_networks(model: nn.Module) -> Iterator[nn.Module]:
    """The transforms, then each network of the prior (its lists flattened)."""
    yield model.g_a
    yield model.g_s
    pending = list(model.prior.children())
    while pending:
        module = pending.pop(0)
        if isinstance(module, nn.ModuleList):
            pending[:0] = list(module)
        else:
            yield module


def compile_networks(model: nn.Module, device: torch.device) -> int:
    """Compile the model's networks in place; returns how many. Refuses, before any step,
    where inductor cannot build CPU kernels (it needs a C++ compiler)."""
    if device.type == "cpu" and not (shutil.which("c++") or shutil.which("g++")
                                     or shutil.which("clang++")):
        raise TrainingError("--compile on the CPU needs a C++ compiler (c++, g++ or clang++) "
                            "on PATH; train without --compile, or install one")
    networks = list(trained_networks(model))
    # The prior's networks share their classes' forward, and dynamo counts a recompilation
    # per instance and input shape against one limit per forward (8 by default): past it,
    # the remaining instances would silently run eager. One entry per network and crop size,
    # with room for the shape changes of a crop schedule.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit,
                                               4 * len(networks))
    for network in networks:
        network.compile()
    return len(networks)
