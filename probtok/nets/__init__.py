"""Torch building blocks of the token model (no Pyro in here).

Every network is fully convolutional, so a model fitted on micro frames runs
unchanged on larger meso frames. Shapes use ``(batch, channel, y, x)``.
"""

from probtok.nets.blocks import conv_stack
from probtok.nets.tokenizer import LinearDecoder, PatchDecoder, PatchEncoder, PixelShuffleDecoder
from probtok.nets.dynamics import CouplingFeatures, DriftNet

__all__ = [
    "conv_stack",
    "PatchEncoder",
    "PatchDecoder",
    "LinearDecoder",
    "PixelShuffleDecoder",
    "DriftNet",
    "CouplingFeatures",
]
