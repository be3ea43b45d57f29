"""Named campaign presets: which set-up, how many runs, which grid, which sampler arguments.

=============  =====  ======  =========  ========  ===========================================
name           setup  runs    grid H x W  frames   notes
=============  =====  ======  =========  ========  ===========================================
micro          micro  200     64 x 64     24       the default micro dataset (probtok.sim.MICRO)
meso           meso   30      128 x 192   36       the default meso dataset (probtok.sim.MESO)
micro-small    micro  8       32 x 32     13       tests and the demo: pores 0.5-1.0 um
meso-small     meso   4       48 x 64     13       tests and the demo: pores 0.5-1.0 um
=============  =====  ======  =========  ========  ===========================================

The small presets keep the cell size and frame interval of their full-size
scale (same physics, same resolution) and shorten the frame count in
proportion to the domain length, so the shock still crosses the domain.
Their pores are smaller (but still >= 4 cells across) so that they fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from probtok.errors import ConfigError
from probtok.sim.case import MESO, MICRO, Case, ScaleSpec
from probtok.sim.setups import sample_case


def shrunk_scale(scale: ScaleSpec, name: str, shape: tuple[int, int]) -> ScaleSpec:
    """``scale`` on a smaller grid: same dx and frame interval, frame count cut in proportion to the length in x."""
    span = (scale.n_frames - 1) * shape[1] / scale.shape[1]
    return replace(scale, name=name, shape=shape, n_frames=int(math.ceil(span)) + 1)


@dataclass(frozen=True)
class Preset:
    """A named campaign: ``n_runs`` cases of ``setup`` on ``scale``, sampled with ``sampler_kwargs``."""

    name: str
    setup: str  # "micro" or "meso"
    n_runs: int
    scale: ScaleSpec
    sampler_kwargs: dict = field(default_factory=dict)

    def sample(self, seed: int) -> Case:
        """The Case of this preset for one seed (campaigns use seeds 0..n_runs-1 by default)."""
        return sample_case(self.setup, seed, scale=self.scale, **self.sampler_kwargs)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("micro", "micro", 200, MICRO),
        Preset("meso", "meso", 30, MESO),
        Preset(
            "micro-small",
            "micro",
            8,
            shrunk_scale(MICRO, "micro-small", (32, 32)),
            dict(d_eq_range_um=(0.5, 1.0), aspect_range=(1.0, 1.6), x_lead_range_um=(0.5, 0.8),
                 y_offset_range_um=(-0.15, 0.15), band_right_um=0.3),
        ),  # fmt: skip
        Preset(
            "meso-small",
            "meso",
            4,
            shrunk_scale(MESO, "meso-small", (48, 64)),
            dict(d_eq_median_um=0.7, d_eq_range_um=(0.5, 1.0), aspect_range=(1.0, 1.6), min_gap_um=0.3,
                 band_left_um=0.6, band_right_um=0.3),
        ),  # fmt: skip
    )
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ConfigError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}", field="preset", hint=f"known presets: {', '.join(PRESETS)}"
        ) from None
