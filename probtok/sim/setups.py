"""Micro (one pore) and meso (many pores) set-ups, sampled reproducibly from a seed.

The shock enters at x = 0 (piston) and moves along +x. Pore shapes are
described in :mod:`probtok.sim.pores`; ``mu0`` is rasterised with 8 x 8
sub-cell samples per cell, so interfaces are anti-aliased.

Distributions (defaults; every range is a keyword argument, every sampled
value can be fixed by an override of the same name). ``U(a, b)`` is uniform,
``w_min = 4 dx`` is the smallest allowed pore width (4 cells across):

Micro (``sample_micro``, one pore):

===============  ==========================================================  ======
parameter        distribution                                                units
===============  ==========================================================  ======
up_kms           U(DEFAULT_UP_RANGE_KMS) from probtok.sim.materials          km/s
shape            uniform over circle, ellipse, superellipse, lobed           -
d_eq_um          U(0.6, 2.0), equivalent (area) diameter                     um
aspect           U(1.0, 2.5) for ellipse/superellipse, 1 otherwise           -
angle_rad        U(0, pi) (0 for a circle), major axis from +x               rad
n_super          U(3, 6) for superellipse, 2 otherwise                       -
lobes            uniform on {3, 4, 5, 6} for lobed, 0 otherwise              -
lobe_amp         U(0.15, 0.30) for lobed, 0 otherwise                        -
x_lead_um        U(0.8, 1.4): piston to the pore's leftmost point            um
y_offset_um      U(-0.3, 0.3): pore centre minus the domain's mid-height     um
===============  ==========================================================  ======

Meso (``sample_meso``, many non-overlapping pores):

===============  ==========================================================  ======
parameter        distribution                                                units
===============  ==========================================================  ======
up_kms           U(DEFAULT_UP_RANGE_KMS)                                     km/s
porosity_target  U(0.03, 0.10): pore area / domain area                      -
shape            circle 0.4, ellipse 0.3, superellipse 0.15, lobed 0.15      -
d_eq_um          LogNormal(median 1.0, sigma_ln 0.35) truncated to [0.6, 2]  um
aspect, angle,   as micro                                                    -
n_super, lobes,
lobe_amp
centre           uniform over the positions that keep the pore >= band_left
                 (1.0 um) from the piston, >= band_right (0.5 um) from the
                 right edge, >= min_gap/2 from top and bottom, and
                 >= min_gap (0.3 um) from every earlier pore                  um
===============  ==========================================================  ======

Shape parameters are drawn conditioned on a width >= ``w_min`` (rejection,
re-drawing aspect/n_super/lobe_amp for the drawn size). Meso pores are placed
by random sequential addition (up to 200 positions per pore) until the pore
area reaches the target; the last pore is shrunk to hit the target exactly
(and becomes a circle if shrinking would make it thinner than ``w_min``); the
addition stops when the remaining area is below the smallest allowed pore.
``params["porosity"]`` is the achieved porosity of the raster, ``1 -
mean(mu0)``, the number the solver sees.

Reproducibility: every parameter has its own random stream, spawned from
``numpy.random.SeedSequence([seed, 1 (micro) or 2 (meso)])``, so a fixed override leaves the other
parameters unchanged, and the same seed, scale and arguments always give the
same Case.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from probtok.errors import ConfigError
from probtok.sim import pores as pg
from probtok.sim.case import MESO, MICRO, Case, ScaleSpec
from probtok.sim.pores import SHAPES, Pore

SAMPLER_VERSION = 1  # bump when a distribution changes: stored in params, so old datasets stay interpretable
N_SUB = 8  # sub-samples per cell and direction for mu0
MIN_WIDTH_CELLS = 4.0

MICRO_SHAPE_WEIGHTS = {"circle": 0.25, "ellipse": 0.25, "superellipse": 0.25, "lobed": 0.25}
MESO_SHAPE_WEIGHTS = {"circle": 0.4, "ellipse": 0.3, "superellipse": 0.15, "lobed": 0.15}
_FALLBACK_UP_RANGE_KMS = (1.0, 2.5)

_SETUP_CODE = {"micro": 1, "meso": 2}
_STREAMS = ("up", "shape", "size", "form", "angle", "place", "porosity")


def default_up_range_kms() -> tuple[float, float]:
    """The solver's default piston-velocity range [km/s] (probtok.sim.materials), if published."""
    try:
        from probtok.sim.materials import DEFAULT_UP_RANGE_KMS
    except ImportError:
        return _FALLBACK_UP_RANGE_KMS
    return (float(DEFAULT_UP_RANGE_KMS[0]), float(DEFAULT_UP_RANGE_KMS[1]))


def _streams(seed: int, setup: str) -> dict[str, np.random.Generator]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}", field="seed")
    # the set-up is part of the entropy: micro seed k and meso seed k are independent draws
    children = np.random.SeedSequence([int(seed), _SETUP_CODE[setup]]).spawn(len(_STREAMS))
    return {name: np.random.default_rng(c) for name, c in zip(_STREAMS, children)}


def _check_range(name: str, rng: tuple, lo_ok: float = -math.inf) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in rng)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a (low, high) pair, got {rng!r}", field=name) from exc
    if not (math.isfinite(a) and math.isfinite(b) and lo_ok <= a <= b):
        raise ConfigError(f"{name} must satisfy {lo_ok} <= low <= high, got {rng!r}", field=name)
    return a, b


def _check_weights(weights: dict) -> tuple[list[str], np.ndarray]:
    bad = set(weights) - set(SHAPES)
    if bad:
        raise ConfigError(
            f"unknown shapes {sorted(bad)} in shape_weights", field="shape_weights", hint=f"known: {SHAPES}"
        )
    names = [s for s in SHAPES if weights.get(s, 0.0) > 0]
    w = np.array([float(weights[s]) for s in names])
    if not names or not np.all(np.isfinite(w)):
        raise ConfigError("shape_weights needs at least one positive finite weight", field="shape_weights")
    return names, w / w.sum()


def _draw_form(shape: str, d_eq: float, rng: np.random.Generator, aspect_range, w_min: float, fixed: dict) -> dict:
    """Shape parameters (aspect, n_super, lobes, lobe_amp) with width >= w_min, by rejection."""
    for _ in range(1000):
        form = {"aspect": 1.0, "n_super": 2.0, "lobes": 0, "lobe_amp": 0.0}
        # always draw the same numbers so a fixed value never shifts the others
        u_aspect, u_n, u_lobes, u_amp = rng.random(4)
        if shape in ("ellipse", "superellipse"):
            form["aspect"] = aspect_range[0] + u_aspect * (aspect_range[1] - aspect_range[0])
        if shape == "superellipse":
            form["n_super"] = 3.0 + 3.0 * u_n
        if shape == "lobed":
            form["lobes"] = 3 + int(4 * u_lobes)
            form["lobe_amp"] = 0.15 + 0.15 * u_amp
        form.update({k: v for k, v in fixed.items() if k in form})
        if pg.min_width_um(Pore(shape, 0.0, 0.0, d_eq, **form)) >= w_min:
            return form
        if all(k in fixed for k in form) or shape == "circle":
            break
    raise ConfigError(
        f"a {shape} pore of d_eq = {d_eq:.3g} um cannot be {w_min:.3g} um (4 cells) across with these parameters",
        field="d_eq_um",
        hint="use a larger d_eq_um / d_eq_range_um, or a smaller aspect",
    )


def _check_overrides(overrides: dict, allowed: tuple[str, ...], setup: str) -> None:
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown {setup} parameter(s) {unknown}",
            hint=f"{setup} parameters that can be fixed: {', '.join(allowed)}",
        )


MICRO_PARAMS = (
    "up_kms", "shape", "d_eq_um", "aspect", "angle_rad", "n_super", "lobes", "lobe_amp", "x_lead_um", "y_offset_um",
)  # fmt: skip


def sample_micro(
    seed: int,
    scale: ScaleSpec = MICRO,
    up_range_kms: tuple[float, float] | None = None,
    d_eq_range_um: tuple[float, float] = (0.6, 2.0),
    aspect_range: tuple[float, float] = (1.0, 2.5),
    x_lead_range_um: tuple[float, float] = (0.8, 1.4),
    y_offset_range_um: tuple[float, float] = (-0.3, 0.3),
    shape_weights: dict | None = None,
    band_right_um: float = 0.5,
    **overrides,
) -> Case:
    """One pore ahead of the piston; see the module docstring for the distributions.

    ``overrides`` fix any of ``MICRO_PARAMS`` (e.g. ``shape="circle", d_eq_um=1.2``).
    Raises ConfigError for unknown overrides, bad ranges, or a pore that does
    not fit the domain (clear of the right edge by ``band_right_um``).
    """
    _check_overrides(overrides, MICRO_PARAMS, "micro")
    rs = _streams(seed, "micro")
    up_range = _check_range("up_range_kms", up_range_kms or default_up_range_kms(), 0.0)
    d_range = _check_range("d_eq_range_um", d_eq_range_um, 0.0)
    a_range = _check_range("aspect_range", aspect_range, 1.0)
    xl_range = _check_range("x_lead_range_um", x_lead_range_um, 0.0)
    yo_range = _check_range("y_offset_range_um", y_offset_range_um)
    names, probs = _check_weights(shape_weights or MICRO_SHAPE_WEIGHTS)
    w_min = MIN_WIDTH_CELLS * scale.dx_um
    ly, lx = scale.extent_um

    up = overrides.get("up_kms", rs["up"].uniform(*up_range))
    shape = overrides.get("shape", names[rs["shape"].choice(len(names), p=probs)])
    d_eq = float(overrides.get("d_eq_um", rs["size"].uniform(*d_range)))
    form = _draw_form(shape, d_eq, rs["form"], a_range, w_min, overrides)
    angle = overrides.get("angle_rad", 0.0 if shape == "circle" else rs["angle"].uniform(0.0, math.pi))
    x_lead, y_off = rs["place"].uniform(*xl_range), rs["place"].uniform(*yo_range)
    x_lead = float(overrides.get("x_lead_um", x_lead))
    y_off = float(overrides.get("y_offset_um", y_off))

    pore = Pore(shape, 0.0, 0.0, d_eq, angle_rad=float(angle), **form)
    x0, x1, y0, y1 = pg.extent_um(pore)
    pore = replace(pore, x_um=x_lead - x0, y_um=0.5 * ly + y_off)
    if pore.x_um + x1 > lx - band_right_um or pore.y_um + y0 < 0.0 or pore.y_um + y1 > ly:
        raise ConfigError(
            f"micro pore (d_eq {d_eq:.3g} um, {shape}, x_lead {x_lead:.3g} um) does not fit the "
            f"{ly:.3g} x {lx:.3g} um domain with a {band_right_um} um right band",
            hint="use a smaller d_eq_range_um / x_lead_range_um or a larger scale",
        )
    mu0 = pg.rasterize_mu0([pore], scale.shape, scale.dx_um, N_SUB)
    params = {
        "sampler_version": SAMPLER_VERSION,
        "up_kms": float(up),
        **{k: v for k, v in pore.to_dict().items() if k not in ("x_um", "y_um")},
        "x_um": pore.x_um,
        "y_um": pore.y_um,
        "x_lead_um": x_lead,
        "y_offset_um": y_off,
        "min_width_um": pg.min_width_um(pore),
        "n_pores": 1,
        "porosity": float(1.0 - mu0.mean()),
    }
    return Case("micro", int(seed), scale, float(up), mu0, params, [pore.to_dict()])


MESO_PARAMS = ("up_kms", "porosity_target")


def _truncated_lognormal(rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float) -> float:
    for _ in range(10000):
        d = median * math.exp(sigma * rng.standard_normal())
        if lo <= d <= hi:
            return d
    raise ConfigError(f"pore size range [{lo}, {hi}] um is too far from the median {median} um", field="d_eq_range_um")


def _fits(cand: Pore, placed: list[Pore], radii: list[float], margins: list[float], gap: float) -> bool:
    rb, margin = pg.bounding_radius_um(cand), 0.5 * pg.vertex_spacing_um(cand)
    for q, rq, mq in zip(placed, radii, margins):
        if math.hypot(cand.x_um - q.x_um, cand.y_um - q.y_um) >= rb + rq + gap:
            continue  # bounding circles already far enough apart
        if pg.gap_um(cand, q) < gap + margin + mq:
            return False
    return True


def sample_meso(
    seed: int,
    scale: ScaleSpec = MESO,
    porosity_range: tuple[float, float] = (0.03, 0.10),
    up_range_kms: tuple[float, float] | None = None,
    d_eq_median_um: float = 1.0,
    d_eq_sigma_ln: float = 0.35,
    d_eq_range_um: tuple[float, float] = (0.6, 2.0),
    aspect_range: tuple[float, float] = (1.0, 2.5),
    shape_weights: dict | None = None,
    min_gap_um: float = 0.3,
    band_left_um: float = 1.0,
    band_right_um: float = 0.5,
    max_tries: int = 200,
    **overrides,
) -> Case:
    """Many non-overlapping pores at a sampled target porosity; see the module docstring.

    ``overrides`` fix ``up_kms`` or ``porosity_target``. Raises ConfigError if
    the target cannot be reached (the domain jams before it) or the arguments
    are invalid.
    """
    _check_overrides(overrides, MESO_PARAMS, "meso")
    rs = _streams(seed, "meso")
    up_range = _check_range("up_range_kms", up_range_kms or default_up_range_kms(), 0.0)
    phi_range = _check_range("porosity_range", porosity_range, 0.0)
    d_range = _check_range("d_eq_range_um", d_eq_range_um, 0.0)
    a_range = _check_range("aspect_range", aspect_range, 1.0)
    names, probs = _check_weights(shape_weights or MESO_SHAPE_WEIGHTS)
    if phi_range[1] >= 0.5:
        raise ConfigError(f"porosity_range {porosity_range} reaches 0.5 or more", field="porosity_range",
                          hint="random sequential addition of separated pores jams near 0.3-0.4")  # fmt: skip
    w_min = MIN_WIDTH_CELLS * scale.dx_um
    if d_range[0] < w_min:
        raise ConfigError(f"d_eq_range_um {d_eq_range_um} allows pores under 4 cells ({w_min:.3g} um) across",
                          field="d_eq_range_um", hint=f"use a lower bound >= {w_min:.3g} um")  # fmt: skip
    ly, lx = scale.extent_um
    up = float(overrides.get("up_kms", rs["up"].uniform(*up_range)))
    target = float(overrides.get("porosity_target", rs["porosity"].uniform(*phi_range)))
    a_dom = lx * ly
    a_min = 0.25 * math.pi * (1.001 * w_min) ** 2  # the smallest allowed pore: a circle w_min across

    placed: list[Pore] = []
    radii: list[float] = []
    margins: list[float] = []
    area = 0.0
    failures = 0
    while target * a_dom - area >= a_min:
        deficit = target * a_dom - area
        shape = names[rs["shape"].choice(len(names), p=probs)]
        d_eq = _truncated_lognormal(rs["size"], d_eq_median_um, d_eq_sigma_ln, *d_range)
        form = _draw_form(shape, d_eq, rs["form"], a_range, w_min, {})
        angle = 0.0 if shape == "circle" else rs["angle"].uniform(0.0, math.pi)
        cand = Pore(shape, 0.0, 0.0, d_eq, angle_rad=angle, **form)
        if pg.area_um2(cand) > deficit:  # last pore: shrink it onto the target
            cand = replace(cand, d_eq_um=math.sqrt(4.0 * deficit / math.pi))
            if pg.min_width_um(cand) < w_min:
                cand = Pore("circle", 0.0, 0.0, cand.d_eq_um)
        x0, x1, y0, y1 = pg.extent_um(cand)
        cx_lo, cx_hi = band_left_um - x0, lx - band_right_um - x1
        cy_lo, cy_hi = 0.5 * min_gap_um - y0, ly - 0.5 * min_gap_um - y1
        ok = False
        if cx_lo <= cx_hi and cy_lo <= cy_hi:
            for _ in range(max_tries):
                trial = replace(cand, x_um=rs["place"].uniform(cx_lo, cx_hi), y_um=rs["place"].uniform(cy_lo, cy_hi))
                if _fits(trial, placed, radii, margins, min_gap_um):
                    ok = True
                    break
        if not ok:
            failures += 1
            if failures > 50:
                raise ConfigError(
                    f"meso seed {seed}: the domain jammed at porosity {area / a_dom:.4f} "
                    f"before the target {target:.4f}",
                    hint="lower porosity_range, min_gap_um or the pore sizes, or use a larger scale",
                )
            continue
        placed.append(trial)
        radii.append(pg.bounding_radius_um(trial))
        margins.append(0.5 * pg.vertex_spacing_um(trial))
        area += pg.area_um2(trial)

    mu0 = pg.rasterize_mu0(placed, scale.shape, scale.dx_um, N_SUB)
    d = np.array([p.d_eq_um for p in placed]) if placed else np.zeros(1)
    params = {
        "sampler_version": SAMPLER_VERSION,
        "up_kms": up,
        "porosity_target": target,
        "porosity": float(1.0 - mu0.mean()),
        "porosity_geom": float(area / a_dom),
        "n_pores": len(placed),
        "d_eq_mean_um": float(d.mean()),
        "d_eq_min_um": float(d.min()),
        "d_eq_max_um": float(d.max()),
        "min_gap_um": float(min_gap_um),
        "band_left_um": float(band_left_um),
        "band_right_um": float(band_right_um),
        **{f"n_{s}": sum(p.shape == s for p in placed) for s in SHAPES},
    }
    return Case("meso", int(seed), scale, up, mu0, params, [p.to_dict() for p in placed])


SAMPLERS = {"micro": sample_micro, "meso": sample_meso}


def sample_case(setup: str, seed: int, **overrides) -> Case:
    """Sample a Case of the named set-up ("micro" or "meso"); ``overrides`` go to its sampler."""
    if setup not in SAMPLERS:
        raise ConfigError(f"unknown set-up {setup!r}", field="setup", hint=f"choose one of: {', '.join(SAMPLERS)}")
    return SAMPLERS[setup](seed, **overrides)
