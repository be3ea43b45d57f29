"""Small convolutional blocks shared by encoders, decoders and drift nets."""

from __future__ import annotations

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
