"""Pore shapes: one star-shaped polar model, its outline, and its anti-aliased raster.

Every pore is a star-shaped region around its centre ``(x_um, y_um)``. In the
pore frame (rotated by ``angle_rad`` counter-clockwise from +x) its boundary
is the polar curve::

    r(phi) = s * R_n(phi; a, b) * (1 + lobe_amp * cos(lobes * phi))
    R_n(phi; a, b) = (|cos(phi) / a|^n + |sin(phi) / b|^n)^(-1/n),  a = sqrt(aspect), b = 1/sqrt(aspect)

with the scale ``s`` chosen so that the area is exactly ``pi d_eq^2 / 4``
(``d_eq_um`` is the equivalent diameter). The named shapes are special cases:

============  ===========================================================
shape         parameters
============  ===========================================================
circle        aspect = 1, n_super = 2, lobes = 0
ellipse       aspect >= 1 (major/minor axis), n_super = 2, lobes = 0
superellipse  rounded rectangle: aspect >= 1, n_super > 2 (4 = rounded square)
lobed         smooth star: lobes >= 3, 0 < lobe_amp < 1 (aspect = 1, n_super = 2)
============  ===========================================================

Lengths in um, angles in radians. Arrays are indexed ``[y, x]`` and cell
``(i, j)`` covers ``[j dx, (j+1) dx] x [i dx, (i+1) dx]``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from probtok.errors import ConfigError

SHAPES: tuple[str, ...] = ("circle", "ellipse", "superellipse", "lobed")
_N_QUAD = 4096  # periodic trapezoid points for the area integral (spectrally accurate)
_N_OUTLINE = 512


@dataclass(frozen=True)
class Pore:
    """One pore; see the module docstring for the meaning of the parameters."""

    shape: str
    x_um: float  # centre
    y_um: float
    d_eq_um: float  # equivalent (area) diameter
    aspect: float = 1.0
    angle_rad: float = 0.0
    n_super: float = 2.0
    lobes: int = 0
    lobe_amp: float = 0.0

    def __post_init__(self):
        hint = f"a pore needs shape in {SHAPES}, d_eq_um > 0, aspect >= 1, n_super >= 2, lobes >= 0, 0 <= lobe_amp < 1"
        if self.shape not in SHAPES:
            raise ConfigError(f"unknown pore shape {self.shape!r}", field="shape", hint=hint)
        vals = (self.x_um, self.y_um, self.d_eq_um, self.aspect, self.angle_rad, self.n_super, self.lobe_amp)
        if not all(math.isfinite(float(v)) for v in vals):
            raise ConfigError(f"pore has a non-finite parameter: {self}", hint=hint)
        if self.d_eq_um <= 0 or self.aspect < 1 or self.n_super < 2 or self.lobes < 0 or not 0 <= self.lobe_amp < 1:
            raise ConfigError(f"pore parameter out of range: {self}", hint=hint)
        # the shape name must describe the parameters (datasets are filtered by it)
        plain = self.n_super == 2 and self.lobes == 0 and self.lobe_amp == 0
        consistent = {
            "circle": plain and self.aspect == 1,
            "ellipse": plain,
            "superellipse": self.lobes == 0 and self.lobe_amp == 0,
            "lobed": self.lobes >= 1 and self.lobe_amp > 0,
        }[self.shape]
        if not consistent:
            raise ConfigError(f"parameters do not describe a {self.shape}: {self}", field="shape", hint=hint)

    def to_dict(self) -> dict:
        """JSON-serialisable dict (plain float/int/str)."""
        d = asdict(self)
        return {k: (v if isinstance(v, str) else int(v) if k == "lobes" else float(v)) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Pore":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown or "shape" not in d:
            raise ConfigError(
                f"pore dict has unknown keys {sorted(unknown)} or lacks 'shape'", hint=f"known keys: {sorted(names)}"
            )
        return cls(**d)


def _unit_radius(p: Pore, phi: np.ndarray) -> np.ndarray:
    """r(phi)/s in the pore frame."""
    a, b = math.sqrt(p.aspect), 1.0 / math.sqrt(p.aspect)
    n = p.n_super
    r = (np.abs(np.cos(phi) / a) ** n + np.abs(np.sin(phi) / b) ** n) ** (-1.0 / n)
    if p.lobes:
        r = r * (1.0 + p.lobe_amp * np.cos(p.lobes * phi))
    return r


@functools.lru_cache(maxsize=4096)
def _unit_area(aspect: float, n_super: float, lobes: int, lobe_amp: float) -> float:
    """Area enclosed by r(phi)/s: (1/2) integral of r^2 dphi by the periodic trapezoid rule."""
    p = Pore("lobed" if lobes else "superellipse", 0.0, 0.0, 1.0, aspect, 0.0, n_super, lobes, lobe_amp)
    phi = np.linspace(0.0, 2.0 * np.pi, _N_QUAD, endpoint=False)
    return float(np.pi * np.mean(_unit_radius(p, phi) ** 2))


def _scale(p: Pore) -> float:
    unit_area = _unit_area(float(p.aspect), float(p.n_super), int(p.lobes), float(p.lobe_amp))
    return 0.5 * p.d_eq_um * math.sqrt(math.pi / unit_area)


def area_um2(p: Pore) -> float:
    """Pore area [um^2] (pi d_eq^2 / 4 by construction)."""
    return 0.25 * math.pi * p.d_eq_um**2


def radius_um(p: Pore, phi_local: np.ndarray) -> np.ndarray:
    """Boundary radius [um] at polar angle ``phi_local`` measured in the pore frame."""
    return _scale(p) * _unit_radius(p, np.asarray(phi_local, dtype=np.float64))


def outline_um(p: Pore, n: int = _N_OUTLINE) -> tuple[np.ndarray, np.ndarray]:
    """Boundary polygon (x, y) [um] in domain coordinates, ``n`` points counter-clockwise."""
    phi = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    r = radius_um(p, phi)
    c, s = math.cos(p.angle_rad), math.sin(p.angle_rad)
    xl, yl = r * np.cos(phi), r * np.sin(phi)
    return p.x_um + c * xl - s * yl, p.y_um + s * xl + c * yl


def inside(p: Pore, x_um: np.ndarray, y_um: np.ndarray) -> np.ndarray:
    """Boolean mask: points (x, y) [um] strictly inside the pore."""
    dx, dy = np.asarray(x_um) - p.x_um, np.asarray(y_um) - p.y_um
    c, s = math.cos(p.angle_rad), math.sin(p.angle_rad)
    xl, yl = c * dx + s * dy, -s * dx + c * dy  # rotate into the pore frame
    return np.hypot(xl, yl) < radius_um(p, np.arctan2(yl, xl))


def bounding_radius_um(p: Pore) -> float:
    """Largest distance [um] of the boundary from the centre."""
    return float(np.max(radius_um(p, np.linspace(0.0, 2.0 * np.pi, 2048, endpoint=False))))


def extent_um(p: Pore) -> tuple[float, float, float, float]:
    """Bounding box (x_min, x_max, y_min, y_max) [um]."""
    x, y = outline_um(p, 2048)
    return float(x.min()), float(x.max()), float(y.min()), float(y.max())


def min_width_um(p: Pore, n_dirs: int = 180) -> float:
    """Minimum caliper (Feret) width [um]: the thinnest the pore is across, over all directions."""
    x, y = outline_um(p, 512)
    th = np.linspace(0.0, np.pi, n_dirs, endpoint=False)
    proj = np.cos(th)[:, None] * x[None, :] + np.sin(th)[:, None] * y[None, :]
    return float(np.min(proj.max(axis=1) - proj.min(axis=1)))


def gap_um(p: Pore, q: Pore, n: int = 256) -> float:
    """Smallest distance [um] between the two pores' boundaries; 0 if they overlap or nest.

    Measured between outline polygons of ``n`` vertices (a polygon vertex
    distance over-estimates the true gap by at most half a vertex spacing, so
    callers add that margin).
    """
    if inside(p, np.array([q.x_um]), np.array([q.y_um]))[0] or inside(q, np.array([p.x_um]), np.array([p.y_um]))[0]:
        return 0.0
    xp, yp = outline_um(p, n)
    xq, yq = outline_um(q, n)
    if inside(q, xp, yp).any() or inside(p, xq, yq).any():
        return 0.0
    return float(np.sqrt(np.min((xp[:, None] - xq[None, :]) ** 2 + (yp[:, None] - yq[None, :]) ** 2)))


def vertex_spacing_um(p: Pore, n: int = 256) -> float:
    """Largest distance [um] between neighbouring outline vertices."""
    x, y = outline_um(p, n)
    return float(np.max(np.hypot(np.diff(x, append=x[0]), np.diff(y, append=y[0]))))


def coverage(p: Pore, shape: tuple[int, int], dx_um: float, n_sub: int = 8) -> tuple[slice, slice, np.ndarray]:
    """Fraction of each cell inside the pore, by ``n_sub x n_sub`` supersampling.

    Returns ``(rows, cols, frac)``: ``frac`` (float64, in [0, 1]) covers the
    sub-array ``[rows, cols]`` of an (H, W) grid of cell size ``dx_um``; cells
    outside that window are untouched by the pore.
    """
    h, w = shape
    rb = bounding_radius_um(p)
    i0, i1 = max(0, int(math.floor((p.y_um - rb) / dx_um))), min(h, int(math.ceil((p.y_um + rb) / dx_um)))
    j0, j1 = max(0, int(math.floor((p.x_um - rb) / dx_um))), min(w, int(math.ceil((p.x_um + rb) / dx_um)))
    if i1 <= i0 or j1 <= j0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0))
    sub = (np.arange(n_sub) + 0.5) / n_sub
    ys = ((np.arange(i0, i1)[:, None] + sub[None, :]) * dx_um).ravel()  # (rows * n_sub,)
    xs = ((np.arange(j0, j1)[:, None] + sub[None, :]) * dx_um).ravel()
    hit = inside(p, xs[None, :], ys[:, None]).astype(np.float64)
    frac = hit.reshape(i1 - i0, n_sub, j1 - j0, n_sub).mean(axis=(1, 3))
    return slice(i0, i1), slice(j0, j1), frac


def rasterize_mu0(pores: list[Pore], shape: tuple[int, int], dx_um: float, n_sub: int = 8) -> np.ndarray:
    """Solid volume fraction mu0 (H, W), float64 in [0, 1]: 1 - pore coverage, anti-aliased.

    Each cell is sampled at ``n_sub x n_sub`` sub-points, so a pore boundary
    gives intermediate values instead of a staircase. Pores are assumed not to
    overlap (coverages add; the sum is clipped at 1 anyway).
    """
    void = np.zeros(shape, dtype=np.float64)
    for p in pores:
        rows, cols, frac = coverage(p, shape, dx_um, n_sub)
        void[rows, cols] += frac
    return 1.0 - np.clip(void, 0.0, 1.0)
