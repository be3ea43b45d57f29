"""PARC baseline: exact operators, learning a known linear ADR problem, checkpoints, errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from probtok.baselines import PARC, ParcConfig, count_parameters, load_parc, save_parc, train_parc
from probtok.baselines.parc import rk4_step
from probtok.baselines.stencils import central_advection, laplacian, upwind_advection
from probtok.errors import CheckpointError, ConfigError, DataError

N = 32  # periodic grid, cells
DIFF = (0.12, 0.05)  # diffusion coefficient per state channel [cell^2 / frame]
DECAY = (0.05, 0.15)  # linear decay rate per state channel [1 / frame]
VMAX = 0.6  # largest advection speed [cells / frame]; velocities are given normalised by it


def adr_runs(n_runs: int, n_frames: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact solutions of dc/dt = -a.grad c + D lap c - k c on a periodic N x N grid.

    Each run has its own constant velocity a (so the model must read the
    velocity input) and random smooth initial fields (Fourier modes |m| <= 2);
    the solution is exact per Fourier mode. Returns state (run, frame, 2, N, N)
    and normalised velocity (run, frame, 2, N, N), one frame per time unit.
    """
    rng = np.random.default_rng(seed)
    k = 2 * np.pi * np.fft.fftfreq(N)
    ky, kx = np.meshgrid(k, k, indexing="ij")
    t = np.arange(n_frames)[:, None, None]
    x = np.zeros((n_runs, n_frames, 2, N, N))
    vel = np.zeros((n_runs, n_frames, 2, N, N))
    for r in range(n_runs):
        a = rng.uniform(-VMAX, VMAX, 2)
        for c in range(2):
            spec = np.zeros((N, N), complex)
            for my in range(-2, 3):
                for mx in range(-2, 3):
                    spec[my % N, mx % N] = rng.normal() + 1j * rng.normal()
            spec[0, 0] = 0.0
            c0 = np.fft.ifft2(spec).real
            s0 = np.fft.fft2(c0 / c0.std())
            rate = -1j * (kx * a[0] + ky * a[1]) - DIFF[c] * (kx**2 + ky**2) - DECAY[c]
            x[r, :, c] = np.fft.ifft2(s0[None] * np.exp(rate[None] * t)).real
        vel[r, :, 0], vel[r, :, 1] = a[0] / VMAX, a[1] / VMAX
    return torch.tensor(x, dtype=torch.float32), torch.tensor(vel, dtype=torch.float32)


SMALL = dict(n_state=2, unet_widths=(8, 16), mar_hidden=16, padding="circular", advection="central",
             lr=3e-3, batch_size=4, horizon_max=4, horizon_grow_every=2, val_horizon=10,
             patience=4, lr_patience=2, max_epochs=20)


@pytest.fixture(scope="module")
def trained():
    """One training run shared by the tests below (the expensive part of this file)."""
    torch.manual_seed(0)
    train = adr_runs(12, 9, seed=1)
    val = adr_runs(3, 11, seed=2)
    model, history = train_parc(*train, 1.0, ParcConfig(**SMALL), val=val, seed=0, progress=False)
    return model, history


# --- exact pieces -----------------------------------------------------------------------------

def test_rk4_step_is_fourth_order_taylor_of_linear_decay():
    z = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    lam, h = 0.7, 0.9
    inc = rk4_step(lambda y: -lam * y, z, h)
    q = lam * h
    expected = z * (-q + q**2 / 2 - q**3 / 6 + q**4 / 24)
    torch.testing.assert_close(inc, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("scheme,order", [(central_advection, 2), (upwind_advection, 1)])
def test_advection_stencils_converge_at_their_order(scheme, order):
    errs = []
    for n in (32, 64):
        h = 2 * math.pi / n
        y, x = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) * h,) * 2, indexing="ij")
        f = torch.sin(x + 2 * y)[None, None]
        u, v = torch.full_like(f, 0.7), torch.full_like(f, -0.3)
        exact = 0.7 * torch.cos(x + 2 * y) - 0.3 * 2 * torch.cos(x + 2 * y)
        errs.append(float((scheme(f, u, v, "circular") / h - exact).abs().max()))
    assert errs[0] / errs[1] == pytest.approx(2**order, rel=0.15)


def test_upwind_takes_the_side_the_velocity_comes_from_per_channel():
    step = (torch.arange(8) >= 4).double().expand(1, 2, 3, 8)  # a jump between cells 3 and 4
    u = torch.tensor([1.0, -1.0], dtype=torch.float64).view(1, 2, 1, 1)  # channel 0 moves right, 1 left
    out = upwind_advection(step, u, torch.zeros_like(u), "replicate")
    # moving right, the jump is seen by cell 4 (backward difference); moving left, by cell 3
    assert torch.equal(out[0, 0, 0], torch.tensor([0, 0, 0, 0, 1, 0, 0, 0], dtype=torch.float64))
    assert torch.equal(out[0, 1, 0], torch.tensor([0, 0, 0, -1, 0, 0, 0, 0], dtype=torch.float64))


def test_laplacian_of_fourier_mode():
    n = 48
    h = 2 * math.pi / n
    y, x = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) * h,) * 2, indexing="ij")
    f = torch.cos(2 * x - y)[None, None]
    # discrete symbol of the 5-point Laplacian: exact for one mode on a periodic grid
    symbol = (2 * math.cos(2 * h) - 2 + 2 * math.cos(h) - 2) / h**2
    torch.testing.assert_close(laplacian(f, "circular") / h**2, symbol * f, rtol=0, atol=1e-9)


def test_untrained_model_is_persistence_and_rollout_layout():
    model = PARC(ParcConfig(n_state=3, unet_widths=(4, 8), padding="replicate"))
    x0, v0 = torch.randn(2, 3, 9, 13), torch.randn(2, 2, 9, 13)
    with torch.no_grad():
        x, v = model.rollout(x0, v0, 3, dt=1.0)
    assert x.shape == (2, 3, 3, 9, 13) and v.shape == (2, 3, 2, 9, 13)
    assert torch.equal(x[:, 0], x0) and torch.equal(v[:, 0], v0)
    # reaction and advection start at zero; only the small initial diffusion acts
    assert 0 < float((x[:, 2] - x0).abs().max()) < 0.5


# --- learning a known problem ------------------------------------------------------------------

def test_parc_learns_linear_advection_diffusion_reaction(trained):
    model, history = trained
    test_x, test_v = adr_runs(4, 11, seed=3)
    with torch.no_grad():
        px, pv = model.rollout(test_x[:, 0], test_v[:, 0], 11, dt=1.0)
    rmse = float(((px[:, 1:] - test_x[:, 1:]) ** 2).mean().sqrt())
    persistence = float(((test_x[:, :1] - test_x[:, 1:]) ** 2).mean().sqrt())
    assert rmse < 0.3 * persistence, (rmse, persistence, history["val_loss"])
    # constant velocity fields must stay (nearly) constant over the 10-frame forecast
    assert float((pv - test_v).abs().mean()) < 0.05
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert min(history["val_loss"]) == history["best_val_loss"][0]
    assert history["n_parameters"] == count_parameters(model) > 0
    assert history["horizon"][0] == 1 and max(history["horizon"]) == 4
    assert history["wall_s"] > 0 and len(history["stopped"]) == 1


# --- checkpoints -------------------------------------------------------------------------------

def test_save_load_round_trip_is_identical(trained, tmp_path):
    model, history = trained
    path = save_parc(model, tmp_path / "parc.pt", history={"val_loss": history["val_loss"]})
    x0, v0 = adr_runs(1, 1, seed=9)
    loaded = load_parc(path)
    loaded_checked = load_parc(path, config=model.config)
    with torch.no_grad():
        ref = model.rollout(x0[:, 0], v0[:, 0], 4, 1.0)
        for other in (loaded, loaded_checked):
            out = other.rollout(x0[:, 0], v0[:, 0], 4, 1.0)
            assert torch.equal(out[0], ref[0]) and torch.equal(out[1], ref[1])
    assert loaded.config == model.config
    again, hist = load_parc(path, return_history=True)
    assert hist == {"val_loss": list(history["val_loss"])} and again.config == model.config
    assert load_parc(save_parc(model, tmp_path / "bare.pt"), return_history=True)[1] == {}


def test_mismatched_or_bad_checkpoint_refused(trained, tmp_path):
    model, _ = trained
    path = save_parc(model, tmp_path / "parc.pt")
    other = ParcConfig(**dict(SMALL, unet_widths=(8, 24)))
    with pytest.raises(CheckpointError, match="unet_widths"):
        load_parc(path, config=other)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_parc(junk)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_parc(tmp_path / "missing.pt")
    # a pickled object (not weights-only data) is refused, not executed
    torch.save({"format": "probtok.parc", "obj": ParcConfig()}, tmp_path / "unsafe.pt")
    with pytest.raises(CheckpointError, match="unsafe"):
        load_parc(tmp_path / "unsafe.pt")


# --- bad input ---------------------------------------------------------------------------------

def test_bad_inputs_raise_probtok_errors():
    x, v = adr_runs(2, 3, seed=4)
    cfg = ParcConfig(**dict(SMALL, max_epochs=1))
    with pytest.raises(DataError, match=r"expected \(run, frame, 2, y, x\)"):
        train_parc(x, v[:, :, :1], 1.0, cfg, progress=False)
    bad = x.clone()
    bad[1, 2, 0, 3, 3] = float("nan")
    with pytest.raises(DataError) as err:
        train_parc(bad, v, 1.0, cfg, progress=False)
    assert err.value.run == 1 and "state[0]" in err.value.field
    with pytest.raises(DataError, match="dt"):
        train_parc(x, v, 0.0, cfg, progress=False)
    with pytest.raises(ConfigError, match="padding"):
        ParcConfig(padding="periodic")
    with pytest.raises(ConfigError, match="unknown ParcConfig keys"):
        ParcConfig.from_dict({"n_state": 3, "widths": 4})


# --- PARCv2 two-stage hybrid integrator ----------------------------------------------------------

def test_integrator_correction_trains_second_with_differentiator_frozen():
    x, v = adr_runs(4, 5, seed=5)
    x, v = x[..., :16, :16], v[..., :16, :16]
    cfg = ParcConfig(**dict(SMALL, unet_widths=(4,), mar_hidden=4, padding="replicate", max_epochs=2,
                            horizon_max=2, val_horizon=2, integrator_correction=True,
                            correction_width=4, correction_epochs_frac=1.0))
    torch.manual_seed(0)
    model, history = train_parc(x, v, 1.0, cfg, seed=1, progress=False)
    stages = history["stage"]
    assert stages == ["differentiator"] * 2 + ["correction"] * 2
    assert len(history["stopped"]) == 2 and history["val_on"] == "train"
    # the correction moved away from its zero start
    assert float(model.correction.net[-1].weight.detach().abs().sum()) > 0
    assert model.use_correction
    assert all(p.requires_grad for p in model.diff.parameters())
    # stage 2 left the differentiator exactly as stage 1 made it: same seed without correction
    ref, _ = train_parc(x, v, 1.0, dataclasses.replace(cfg, integrator_correction=False), seed=1, progress=False)
    for (name, a), b in zip(model.diff.state_dict().items(), ref.diff.state_dict().values()):
        assert torch.equal(a, b), name


def test_normaliser_is_kept_and_inverted(tmp_path):
    shift, scale = [300.0, 1.0, 0.5, 0.8, 0.0], [200.0, 10.0, 0.5, 1.2, 0.9]
    model = PARC(ParcConfig(unet_widths=(4,), mar_hidden=4), normaliser={"shift": shift, "scale": scale})
    x_phys = torch.tensor([250.0, 31.0, 0.2]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    v_phys = torch.tensor([2.0, -0.9]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    sh, sc = torch.tensor(shift).view(5, 1, 1), torch.tensor(scale).view(5, 1, 1)
    x_n, v_n = (x_phys - sh[:3]) / sc[:3], (v_phys - sh[3:]) / sc[3:]
    loaded = load_parc(save_parc(model, tmp_path / "n.pt"))
    for m in (model, loaded):
        xp, vp = m.physical(x_n, v_n)
        torch.testing.assert_close(xp, x_phys)
        torch.testing.assert_close(vp, v_phys)
    # advecting velocity starts proportional to the physical one: offset = shift / scale of (u, v)
    torch.testing.assert_close(model.diff.vel_offset.detach(), torch.tensor([0.8 / 1.2, 0.0]))
    with pytest.raises(ConfigError, match="needs 5"):
        PARC(ParcConfig(), normaliser={"shift": shift[:3], "scale": scale[:3]})


def test_gradient_checkpointing_gives_the_same_gradients():
    from probtok.baselines.parc_train import l1_rollout_loss

    torch.manual_seed(0)
    model = PARC(ParcConfig(unet_widths=(4, 8), mar_hidden=4, integrator_correction=True, correction_width=4))
    for p in model.parameters():  # leave the zero start, so every term contributes
        torch.nn.init.normal_(p, std=0.1)
    x, v = torch.randn(2, 4, 3, 12, 10), 0.1 * torch.randn(2, 4, 2, 12, 10)
    grads = []
    for checkpoint in (False, True):
        model.zero_grad()
        l1_rollout_loss(model, x, v, 1.0, checkpoint=checkpoint).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-7)
