"""Small convolutional blocks shared by encoders, decoders and drift nets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_stack(c_in: int, width: int, n_layers: int, kernel: int = 3, dilations=None) -> nn.Sequential:
    """``n_layers`` of (conv ``kernel`` x ``kernel``, SiLU), same padding.

    Replicate padding: the fields near a domain edge continue the interior
    (a zero pad would look like a cold void to the network).
    ``dilations`` (one per layer) widens the receptive field without pooling.
    """
    dilations = list(dilations) if dilations is not None else [1] * n_layers
    if len(dilations) != n_layers:
        raise ValueError("one dilation per layer")
    layers = []
    c = c_in
    for dil in dilations:
        pad = dil * (kernel // 2)
        layers += [nn.Conv2d(c, width, kernel, padding=pad, dilation=dil, padding_mode="replicate"), nn.SiLU()]
        c = width
    return nn.Sequential(*layers)


def uniform_response(stack: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """What ``stack`` (a :func:`conv_stack`, or 1x1 convs and pointwise activations) outputs on a UNIFORM
    grid, evaluated for every cell of ``x`` (B, C, h, w) at once: out[..., i, j] = stack(grid filled with
    x[..., i, j]) (B, C_out, h, w).

    With replicate padding a uniform input stays uniform through every layer, and a conv on a uniform
    input is the 1x1 conv whose weights are its kernel summed over space: so this is exact, and costs
    one 1x1 conv per layer (no padded copy of the input per cell)."""
    for layer in stack:
        if isinstance(layer, nn.Conv2d):
            if layer.padding_mode != "replicate" and layer.kernel_size != (1, 1):
                raise ValueError("uniform_response needs replicate padding (a zero pad breaks uniformity)")
            x = F.conv2d(x, layer.weight.sum((2, 3), keepdim=True), layer.bias)
        else:
            x = layer(x)
    return x
