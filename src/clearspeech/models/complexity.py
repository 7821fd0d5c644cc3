"""Multiply-accumulate counts of a model's forward pass, from its layers' output shapes.

Counted: convolutions (also transposed), linear layers and LSTMs, the layers that dominate
every architecture here; element-wise work (activations, norms, the STFT) is left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def _conv_macs(module: nn.modules.conv._ConvNd, output) -> int:
    """Each output element of a convolution costs ``in_channels / groups * kernel`` MACs; a
    transposed convolution's input element scatters as many, counted on its input."""
    per_element = module.in_channels // module.groups * math.prod(module.kernel_size)
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        per_element = module.out_channels // module.groups * math.prod(module.kernel_size)
    return per_element * output.numel()


def _lstm_macs(module: nn.LSTM, inputs: tuple, output: tuple) -> int:
    """Four gates of ``hidden x (input + hidden)`` per step, layer and direction."""
    sequence = output[0]
    steps = sequence.shape[0] * sequence.shape[1]  # batch x time in either layout
    directions = 2 if module.bidirectional else 1
    total, size = 0, module.input_size
    for _ in range(module.num_layers):
        total += directions * 4 * module.hidden_size * (size + module.hidden_size) * steps
        size = module.hidden_size * directions
    return total


def count_macs(model: nn.Module, run: Callable[[], object]) -> int:
    """MACs spent in ``model``'s layers while ``run()`` executes (e.g. ``lambda: model(x)``, or a
    whole enhancement that calls the model several times)."""
    counts: list[int] = []

    def hook(module: nn.Module, args: tuple, output) -> None:
        if isinstance(module, nn.modules.conv._ConvNd):
            source = args[0] if isinstance(module, nn.modules.conv._ConvTransposeNd) else output
            counts.append(_conv_macs(module, source))
        elif isinstance(module, nn.Linear):
            counts.append(module.in_features * output.numel())
        elif isinstance(module, nn.LSTM):
            counts.append(_lstm_macs(module, args, output))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.modules.conv._ConvNd | nn.Linear | nn.LSTM)]
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return sum(counts)
