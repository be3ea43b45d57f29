"""Micro/meso set-up sampling, pore geometry and presets."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import cKDTree
from scipy.special import gamma as gamma_fn

from probtok.errors import ConfigError
from probtok.sim import pores as pg
from probtok.sim.case import MESO, MICRO, ScaleSpec
from probtok.sim.pores import SHAPES, Pore
from probtok.sim.presets import PRESETS, get_preset
from probtok.sim.setups import default_up_range_kms, sample_case, sample_meso, sample_micro

MESO_SMALL = get_preset("meso-small")
MICRO_SEEDS = range(200)


@pytest.fixture(scope="module")
def micro_cases():
    return [sample_micro(s) for s in MICRO_SEEDS]


@pytest.fixture(scope="module")
def meso_cases():
    # full-size meso at the top of the default porosity range (densest packing), plus small ones
    full = [sample_meso(s, porosity_range=(0.095, 0.10)) for s in range(3)]
    small = [MESO_SMALL.sample(s) for s in range(8)]
    return full + small


def _same(a, b) -> bool:
    return (
        a.setup == b.setup
        and a.up_kms == b.up_kms
        and a.params == b.params
        and a.geometry == b.geometry
        and a.scale == b.scale
        and np.array_equal(a.mu0, b.mu0)
    )


@pytest.mark.parametrize("setup", ["micro", "meso"])
def test_same_seed_same_case_and_different_seeds_differ(setup):
    kw = {} if setup == "micro" else dict(scale=MESO_SMALL.scale, **MESO_SMALL.sampler_kwargs)
    a, b, c = (sample_case(setup, s, **kw) for s in (7, 7, 8))
    assert _same(a, b)
    assert a.up_kms != c.up_kms and a.geometry != c.geometry and not np.array_equal(a.mu0, c.mu0)


def test_micro_and_meso_streams_are_independent():
    assert sample_micro(0).up_kms != sample_meso(0, scale=MESO_SMALL.scale, **MESO_SMALL.sampler_kwargs).up_kms


def test_fixing_one_parameter_leaves_the_others_unchanged():
    a = sample_micro(11)
    b = sample_micro(11, up_kms=1.234)
    assert b.up_kms == 1.234 and b.params["up_kms"] == 1.234
    assert {k: v for k, v in a.params.items() if k != "up_kms"} == {k: v for k, v in b.params.items() if k != "up_kms"}
    c = sample_micro(11, shape="circle", d_eq_um=1.5)
    assert c.params["shape"] == "circle" and c.params["d_eq_um"] == 1.5
    assert c.params["x_lead_um"] == a.params["x_lead_um"] and c.up_kms == a.up_kms


def test_mu0_is_float64_in_unit_interval_and_anti_aliased(micro_cases, meso_cases):
    for case in micro_cases[:20] + meso_cases:
        mu0 = case.mu0
        assert mu0.dtype == np.float64 and mu0.shape == case.scale.shape
        assert mu0.min() >= 0.0 and mu0.max() <= 1.0
        assert (mu0 == 0.0).any()  # pore interiors are pure gas
        # partial cells exist along every boundary: about perimeter / dx of them, not a staircase
        partial = np.count_nonzero((mu0 > 0) & (mu0 < 1))
        perim = sum(np.sum(np.hypot(*np.diff(np.stack(pg.outline_um(Pore(**g))), axis=1))) for g in case.geometry)
        assert 0.7 * perim / case.scale.dx_um < partial < 2.0 * perim / case.scale.dx_um


@pytest.mark.parametrize(
    "d_um, x_um, y_um", [(0.6, 3.2, 3.2), (1.0, 3.03, 2.97), (1.37, 2.911, 3.456), (2.0, 3.2, 3.25)]
)
def test_circle_raster_area_matches_pi_r2(d_um, x_um, y_um):
    mu0 = pg.rasterize_mu0([Pore("circle", x_um, y_um, d_um)], (64, 64), 0.1)
    area = (1.0 - mu0).sum() * 0.1**2
    assert area == pytest.approx(math.pi * (0.5 * d_um) ** 2, rel=0.01)


@pytest.mark.parametrize(
    "pore",
    [
        Pore("ellipse", 3.1, 3.3, 1.7, aspect=2.3, angle_rad=0.4),
        Pore("superellipse", 3.2, 3.1, 1.5, aspect=1.8, angle_rad=1.1, n_super=5.0),
        Pore("lobed", 3.2, 3.2, 1.8, angle_rad=0.2, lobes=5, lobe_amp=0.3),
    ],
    ids=lambda p: p.shape,
)
def test_every_shape_has_the_area_of_its_equivalent_diameter(pore):
    target = math.pi * pore.d_eq_um**2 / 4
    mu0 = pg.rasterize_mu0([pore], (64, 64), 0.1)
    assert (1.0 - mu0).sum() * 0.01 == pytest.approx(target, rel=0.01)
    x, y = pg.outline_um(pore, 4096)
    shoelace = 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    assert shoelace == pytest.approx(target, rel=1e-5)


def test_shape_sizes_match_closed_forms():
    d, ar = 1.2, 2.0
    # ellipse: semi-axes (d/2) sqrt(ar), (d/2)/sqrt(ar); its thinnest width is the minor axis
    e = Pore("ellipse", 0.0, 0.0, d, aspect=ar)
    x0, x1, y0, y1 = pg.extent_um(e)
    assert x1 - x0 == pytest.approx(d * math.sqrt(ar), rel=1e-6)
    assert y1 - y0 == pytest.approx(d / math.sqrt(ar), rel=1e-6)
    assert pg.min_width_um(Pore("ellipse", 0.0, 0.0, d, aspect=ar, angle_rad=0.7), n_dirs=720) == pytest.approx(
        d / math.sqrt(ar), rel=1e-4
    )
    # superellipse |x/a|^n + |y/b|^n = 1 has area 4 a b Gamma(1+1/n)^2 / Gamma(1+2/n)
    n = 4.0
    s = Pore("superellipse", 0.0, 0.0, d, aspect=ar, n_super=n)
    x0, x1, y0, y1 = pg.extent_um(s)
    a, b = 0.5 * (x1 - x0), 0.5 * (y1 - y0)
    assert a / b == pytest.approx(ar, rel=1e-6)
    assert 4 * a * b * gamma_fn(1 + 1 / n) ** 2 / gamma_fn(1 + 2 / n) == pytest.approx(math.pi * d * d / 4, rel=1e-6)
    # lobed r = R0 (1 + eps cos k phi) has area pi R0^2 (1 + eps^2 / 2)
    eps = 0.25
    lob = Pore("lobed", 0.0, 0.0, d, lobes=4, lobe_amp=eps)
    r0 = 0.5 * d / math.sqrt(1 + 0.5 * eps**2)
    assert pg.bounding_radius_um(lob) == pytest.approx(r0 * (1 + eps), rel=1e-9)


def test_inconsistent_pore_parameters_are_rejected():
    with pytest.raises(ConfigError, match="circle"):
        Pore("circle", 0.0, 0.0, 1.0, aspect=2.0)
    with pytest.raises(ConfigError, match="unknown pore shape"):
        Pore("triangle", 0.0, 0.0, 1.0)
    with pytest.raises(ConfigError):
        Pore("ellipse", 0.0, 0.0, -1.0)


def _coverages(case):
    return [pg.coverage(Pore(**g), case.scale.shape, case.scale.dx_um) for g in case.geometry]


def test_meso_pores_do_not_overlap_in_geometry_or_raster(meso_cases):
    for case in meso_cases:
        pores = [Pore(**g) for g in case.geometry]
        gap = case.params["min_gap_um"]
        outlines = [np.stack(pg.outline_um(p, 2048), axis=1) for p in pores]
        trees = [cKDTree(o) for o in outlines]
        radii = [pg.bounding_radius_um(p) for p in pores]
        for i in range(len(pores)):
            for j in range(i):
                ci = np.array([[pores[i].x_um], [pores[i].y_um]])
                assert not pg.inside(pores[j], *ci)[0]
                if math.dist(ci[:, 0], (pores[j].x_um, pores[j].y_um)) > radii[i] + radii[j] + gap:
                    continue  # bounding circles far apart
                dist = trees[j].query(outlines[i])[0].min()
                assert dist >= gap * 0.999, (case.seed, i, j, dist)
        # raster: no cell touched by two pores, and the pores compose mu0 exactly
        owner = np.zeros(case.scale.shape, dtype=int)
        void = np.zeros(case.scale.shape)
        for rows, cols, frac in _coverages(case):
            owner[rows, cols] += frac > 0
            void[rows, cols] += frac
        assert owner.max() == 1
        np.testing.assert_allclose(1.0 - void, case.mu0, atol=1e-15)


def test_meso_porosity_reaches_the_sampled_target(meso_cases):
    for case in meso_cases:
        p = case.params
        a_dom = np.prod(case.scale.extent_um)
        smallest = math.pi * (4 * case.scale.dx_um) ** 2 / 4 / a_dom
        assert p["porosity_target"] - 1.01 * smallest <= p["porosity_geom"] <= p["porosity_target"] + 1e-12
        assert p["porosity"] == pytest.approx(1.0 - case.mu0.mean(), abs=1e-15)
        # the addition stops when less than the smallest allowed pore is missing; + raster aliasing
        assert abs(p["porosity"] - p["porosity_target"]) < 1.01 * smallest + 0.002
        assert p["n_pores"] == len(case.geometry) >= 2


def test_meso_targets_follow_the_porosity_range():
    phis = [sample_meso(s, scale=MESO_SMALL.scale, **{**MESO_SMALL.sampler_kwargs, "porosity_range": (0.05, 0.06)})
            .params["porosity_target"] for s in range(6)]  # fmt: skip
    assert all(0.05 <= p <= 0.06 for p in phis) and len(set(phis)) == 6


def test_smallest_pore_is_at_least_four_cells_across(micro_cases, meso_cases):
    for case in micro_cases + meso_cases:
        for g in case.geometry:
            assert pg.min_width_um(Pore(**g), n_dirs=360) >= 4 * case.scale.dx_um * 0.999


def test_pores_stay_clear_of_piston_band_and_edges(micro_cases, meso_cases):
    for case in meso_cases:
        ly, lx = case.scale.extent_um
        p = case.params
        for g in case.geometry:
            x, y = pg.outline_um(Pore(**g), 2048)
            assert x.min() >= p["band_left_um"] - 1e-9 and x.max() <= lx - p["band_right_um"] + 1e-9
            assert y.min() >= 0.5 * p["min_gap_um"] - 1e-9 and y.max() <= ly - 0.5 * p["min_gap_um"] + 1e-9
        band = int(round(p["band_left_um"] / case.scale.dx_um))
        assert np.all(case.mu0[:, :band] == 1.0)
    for case in micro_cases:
        x, _ = pg.outline_um(Pore(**case.geometry[0]), 4096)
        assert x.min() == pytest.approx(case.params["x_lead_um"], abs=1e-4)  # the shock meets it after x_lead
        assert 0.8 <= case.params["x_lead_um"] <= 1.4 and x.max() <= case.scale.extent_um[1] - 0.5
        lead_cells = int(0.8 / case.scale.dx_um)
        assert np.all(case.mu0[:, :lead_cells] == 1.0)


def test_each_micro_shape_appears_over_many_seeds(micro_cases):
    counts = Counter(c.params["shape"] for c in micro_cases)
    assert set(counts) == set(SHAPES)
    # Binomial(200, 1/4): mean 50, sd 6.1
    assert all(30 <= n <= 70 for n in counts.values()), counts


def test_micro_distributions_match_their_documentation(micro_cases):
    lo, hi = default_up_range_kms()
    up = np.array([c.up_kms for c in micro_cases])
    assert stats.kstest(up, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3
    d = np.array([c.params["d_eq_um"] for c in micro_cases])
    assert stats.kstest(d, stats.uniform(0.6, 1.4).cdf).pvalue > 1e-3
    ell = [c for c in micro_cases if c.params["shape"] == "ellipse"]
    assert all(1.0 <= c.params["aspect"] <= 2.5 for c in ell) and max(c.params["aspect"] for c in ell) > 1.8
    assert all(c.params["aspect"] == 1.0 for c in micro_cases if c.params["shape"] in ("circle", "lobed"))
    off = np.array([c.params["y_um"] - 0.5 * c.scale.extent_um[0] for c in micro_cases])
    assert np.all(np.abs(off) <= 0.3 + 1e-12)


def test_params_and_geometry_are_json_serialisable_and_round_trip(micro_cases, meso_cases):
    for case in micro_cases[:10] + meso_cases:
        for v in case.params.values():
            assert type(v) in (int, float, str)
        text = json.dumps({"params": case.params, "geometry": case.geometry}, allow_nan=False)
        back = json.loads(text)
        assert back["params"] == case.params and back["geometry"] == case.geometry
        pores = [Pore.from_dict(g) for g in back["geometry"]]
        np.testing.assert_array_equal(pg.rasterize_mu0(pores, case.scale.shape, case.scale.dx_um), case.mu0)


def test_micro_params_have_the_same_keys_for_every_shape(micro_cases):
    keys = {tuple(c.params) for c in micro_cases}
    assert len(keys) == 1  # one table of per-run parameters, whatever the shape


def test_bad_set_ups_and_arguments_raise_config_errors():
    with pytest.raises(ConfigError) as err:
        sample_case("nano", 0)
    assert "micro" in err.value.hint and "meso" in err.value.hint
    with pytest.raises(ConfigError, match="unknown micro parameter"):
        sample_micro(0, diameter=3.0)
    with pytest.raises(ConfigError, match="seed"):
        sample_micro(-1)
    with pytest.raises(ConfigError, match="does not fit"):
        sample_micro(0, scale=ScaleSpec("tiny", (16, 16), 0.1, 0.06, 5))
    with pytest.raises(ConfigError, match="4 cells"):
        sample_meso(0, d_eq_range_um=(0.2, 1.0))
    with pytest.raises(ConfigError, match="jammed"):
        sample_meso(0, scale=MESO_SMALL.scale, porosity_range=(0.45, 0.45), d_eq_median_um=1.5,
                    d_eq_range_um=(1.2, 2.0), band_left_um=0.6, band_right_um=0.3, max_tries=5)  # fmt: skip


def test_presets():
    assert PRESETS["micro"].n_runs == 200 and PRESETS["micro"].scale == MICRO
    assert PRESETS["meso"].n_runs == 30 and PRESETS["meso"].scale == MESO
    for name in ("micro-small", "meso-small"):
        p = get_preset(name)
        full = MICRO if p.setup == "micro" else MESO
        assert p.scale.dx_um == full.dx_um and p.scale.dt_frame_ns == full.dt_frame_ns
        assert p.scale.shape[0] * p.scale.shape[1] < full.shape[0] * full.shape[1]
        # frames still cover the crossing: same time per unit length as the full scale
        assert (p.scale.n_frames - 1) / p.scale.shape[1] >= (full.n_frames - 1) / full.shape[1]
        for seed in range(p.n_runs):
            case = p.sample(seed)
            assert case.setup == p.setup and case.mu0.shape == p.scale.shape
    with pytest.raises(ConfigError) as err:
        get_preset("mikro")
    assert all(name in err.value.hint for name in PRESETS)
