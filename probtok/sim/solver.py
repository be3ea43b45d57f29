"""The jitted driver: frames of a run from an initial state, and ``run_case`` for campaigns.

One compiled function per (grid shape, n_frames, dtype, static options);
physical numbers (piston velocity, material parameters, frame interval, CFL)
are traced arguments, so a campaign over Up or materials compiles once.
Inside: ``lax.scan`` over frames, ``lax.while_loop`` over CFL steps up to each
frame time (the last step of a frame is shortened to land on it exactly).

Precision: float32 (default) resolves pressure in the solid only to about
``rho c^2 * 6e-8 ~ 1e-6 GPa`` (1 % of an atmosphere; the phase densities
themselves are stored to 6e-8): harmless for GPa shocks, and the pore gas
(p_inf = 0) is resolved far better. Verification runs use float64.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from probtok.errors import ConfigError
from probtok.sim import boundaries, fiveeq, reaction, timestep
from probtok.sim.case import FIELDS, Case, SimResult
from probtok.sim.materials import AIR, HMX, Material, material_arrays
from probtok.sim.semidiscrete import rhs
from probtok.sim.temperature import reported_temperature

#: per-frame output slots of :func:`simulate`: the 7 primitives then the reported temperature
OUT_NAMES = ("m1", "m2", "u", "v", "P", "lam", "mu", "T")


@dataclass(frozen=True)
class SolverConfig:
    """Numerical and physical options of the solver.

    solid, gas : materials 1 (reacting, "mu") and 2 (pore gas).
    cfl : Courant number of the unsplit 2-D bound (see ``timestep``).
    dtype : "float32" (default, campaigns) or "float64" (verification).
    limiter : "minmod", "mc" or "vanleer" (MUSCL slope limiter).
    bc_left : "piston" (inflow of solid on its Hugoniot at the piston velocity; default) or
        "moving_wall" (mirrored state moving at the piston velocity: feeds in the adjacent
        state, for material that already moves at that velocity); see ``boundaries``.
    bc_right : "outflow" or "reflective"; bc_y : "reflective", "extrapolate" or "periodic".
    piston_ramp_ns : rise time of the piston velocity [ns].
    eps : volume-fraction floor (mu kept in [eps, 1 - eps]).
    react : run the Arrhenius reaction; mu_react_min : reaction only where mu > this.
    gas_T_cap_K : upper bound of the reported T in pore (mu <= 0.5) cells [K] (see ``temperature``).
    max_steps : step limit per run (a run that needs more is recorded as failed).
    """

    solid: Material = HMX
    gas: Material = AIR
    cfl: float = 0.8
    dtype: str = "float32"
    limiter: str = "minmod"
    bc_left: str = "piston"
    bc_right: str = "outflow"
    bc_y: str = "reflective"
    piston_ramp_ns: float = 0.05
    eps: float = 1e-6
    react: bool = True
    mu_react_min: float = 0.5
    gas_T_cap_K: float = 3000.0
    max_steps: int = 100_000

    def __post_init__(self):
        from probtok.sim.reconstruction import LIMITERS

        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}", field="dtype")
        if self.limiter not in LIMITERS:
            raise ConfigError(f"unknown limiter {self.limiter!r}", field="limiter",
                              hint=f"use one of {sorted(LIMITERS)}")
        boundaries.check_options(self.bc_right, self.bc_y, self.bc_left)
        if not 0.0 < self.cfl <= 1.0:
            raise ConfigError(f"cfl must be in (0, 1], got {self.cfl}", field="cfl")
        if not 0.0 < self.eps < 0.01:
            raise ConfigError(f"eps must be in (0, 0.01), got {self.eps}", field="eps")

    @property
    def materials(self) -> tuple[Material, Material]:
        return (self.solid, self.gas)

    def static(self) -> tuple:
        """The options that select compiled code (hashable)."""
        return (self.limiter, self.bc_left, self.bc_right, self.bc_y, self.eps, self.react)


def _x64(config: SolverConfig):
    return jax.enable_x64(config.dtype == "float64")


def _frame_output(U, mp, gas_cap):
    W = fiveeq.cons_to_prim(U, mp)
    T = reported_temperature(W[fiveeq.P_], W[fiveeq.M1], W[fiveeq.M2], W[fiveeq.A1], mp, gas_cap)
    return jnp.concatenate([W, T[None]], axis=0)


@partial(jax.jit, static_argnames=("n_frames", "static"))
def _simulate(U0, mp, dx, up, t_ramp, dt_frame, cfl, gas_cap, mu_min, max_steps, *, n_frames, static):
    limiter, bc_left, bc_right, bc_y, eps, react = static
    two_d = U0.shape[1] > 1
    dtype = U0.dtype

    def rate(U, t):
        return rhs(U, boundaries.piston_velocity(t, up, t_ramp), mp, dx,
                   limiter=limiter, bc_left=bc_left, bc_right=bc_right, bc_y=bc_y, eps=eps)

    # One while-loop iteration = one SSP-RK2 stage, so the graph holds a single rhs (halves compile time).
    def one_stage(carry, t_target):
        U0, Uc, stage, dt, T_react, t, n = carry
        dU, W = rate(Uc, t + stage.astype(dtype) * dt)

        def first(_):
            dt_cfl = timestep.cfl_dt(W, mp, dx, cfl, two_d)
            dt_new = jnp.minimum(dt_cfl, t_target - t)
            # a non-finite or collapsed dt ends the frame's loop (t = inf); health() tells why
            bad = ~jnp.isfinite(dt_cfl) | (dt_cfl < 1e-9 * dt_frame)
            T_new = reaction.reacting_temperature(W, mp, mu_min) if react else T_react
            U1 = timestep.rk2_stage1(U0, dU, dt_new, eps)
            return U0, U1, jnp.ones((), jnp.int32), dt_new, T_new, jnp.where(bad, jnp.inf, t), n

        def second(_):
            U2 = timestep.rk2_stage2(U0, Uc, dU, dt, eps)
            if react:
                U2 = reaction.react(U2, T_react, dt, mp)
            # t = inf marks a failed step (set by the first stage): keep it so the loop stops
            t1 = jnp.where(jnp.isfinite(t), jnp.where(dt >= t_target - t, t_target, t + dt), t)
            return U2, U2, jnp.zeros((), jnp.int32), dt, T_react, t1, n + 1

        return jax.lax.cond(stage == 0, first, second, None)

    def frame(carry, k):
        U, t, n, status = carry
        t_target = k.astype(dtype) * dt_frame

        def cond(c):
            return ((c[5] < t_target) & (c[6] < max_steps)) | (c[2] == 1)

        zero = jnp.zeros((), dtype)
        init = (U, U, jnp.zeros((), jnp.int32), zero, jnp.zeros(U.shape[1:], dtype), t, n)
        U, _, _, _, _, t, n = jax.lax.while_loop(cond, lambda c: one_stage(c, t_target), init)
        st = timestep.health(U)
        st = jnp.where((st == 0) & jnp.isinf(t), 4, st)
        st = jnp.where((st == 0) & (t < t_target), 3, st)
        status = jnp.where(status == 0, st, status)
        # after a failure the state is frozen (no more steps): cond is false once t is inf
        t = jnp.where(status == 0, t, jnp.inf)
        return (U, t, n, status), (_frame_output(U, mp, gas_cap), status)

    carry0 = (U0, jnp.zeros((), dtype), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    (U, t, n, status), (frames, frame_status) = jax.lax.scan(frame, carry0, jnp.arange(n_frames))
    return frames, frame_status, U, n, status


def simulate(U0, config: SolverConfig, *, dx_um: float, up_kms: float, dt_frame_ns: float, n_frames: int):
    """Run from conserved state U0 (7, H, W) and return frames and diagnostics (NumPy).

    Returns dict: ``frames`` (n_frames, 8, H, W) with slots :data:`OUT_NAMES`
    (m1, m2 [g/cm^3], u, v [km/s], P [GPa], lam, mu, T [K]), frame k at
    t = k dt_frame_ns; ``frame_status`` (n_frames,) status code after each frame
    (see ``timestep.STATUS``); ``U`` the final conserved state; ``n_steps``; ``status``.
    Build U0 with :func:`initial_state` under the same dtype.
    """
    with _x64(config):
        dtype = jnp.dtype(config.dtype)
        mp = material_arrays(config.materials, dtype)
        s = lambda x: jnp.asarray(x, dtype)  # noqa: E731
        out = _simulate(
            jnp.asarray(U0, dtype), mp, s(dx_um), s(up_kms), s(config.piston_ramp_ns), s(dt_frame_ns),
            s(config.cfl), s(config.gas_T_cap_K), s(config.mu_react_min), jnp.asarray(config.max_steps, jnp.int32),
            n_frames=int(n_frames), static=config.static(),
        )
        frames, frame_status, U, n, status = jax.block_until_ready(out)
        return {
            "frames": np.asarray(frames),
            "frame_status": np.asarray(frame_status),
            "U": np.asarray(U),
            "n_steps": int(n),
            "status": int(status),
        }


def initial_state(mu0, config: SolverConfig, *, rho_solid=None, rho_gas=None, p=None, u=0.0, v=0.0, lam=0.0):
    """Conserved state (7, H, W) of ``config.dtype`` for solid fraction ``mu0`` (H, W).

    Defaults: each material at its reference density and the solid's ambient pressure.
    Arguments broadcast to (H, W) (phase densities [g/cm^3], p [GPa], u, v [km/s]).
    """
    with _x64(config):
        dtype = jnp.dtype(config.dtype)
        mp = material_arrays(config.materials, dtype)
        rho_solid = config.solid.rho0 if rho_solid is None else rho_solid
        rho_gas = config.gas.rho0 if rho_gas is None else rho_gas
        p = config.solid.p0_gpa if p is None else p
        U = fiveeq.initial_state(jnp.asarray(mu0, dtype), rho_solid, rho_gas, p, u, v, lam, mp=mp, eps=config.eps)
        return np.array(U)  # a writable copy


def _check_case(case: Case) -> np.ndarray:
    mu0 = np.asarray(case.mu0, dtype=np.float64)
    where = dict(run=case.seed, field="mu0")
    if mu0.shape != tuple(case.scale.shape):
        raise ConfigError(f"mu0 has shape {mu0.shape}, the scale {case.scale.name!r} needs {case.scale.shape}",
                          hint="build mu0 on the scale's grid (H, W)", **where)
    if not np.all(np.isfinite(mu0)) or mu0.min() < 0.0 or mu0.max() > 1.0:
        raise ConfigError("mu0 must be finite and in [0, 1]", hint="mu0 is the solid volume fraction", **where)
    if not np.isfinite(case.up_kms) or case.up_kms < 0.0:
        raise ConfigError(f"piston velocity must be finite and >= 0 km/s, got {case.up_kms}", field="up_kms",
                          run=case.seed, hint="give Up in km/s")
    if mu0.shape[1] < 2:
        raise ConfigError("the grid needs at least 2 cells along x", **where)
    sc = case.scale
    if not (sc.dx_um > 0 and sc.dt_frame_ns > 0 and sc.n_frames >= 1):
        raise ConfigError(f"scale {sc.name!r} needs dx_um > 0, dt_frame_ns > 0 and n_frames >= 1", run=case.seed,
                          field="scale", hint="check the ScaleSpec numbers (um, ns)")
    return mu0


def run_case(case: Case, config: SolverConfig | None = None) -> SimResult:
    """Simulate one Case; fields T [K], P [GPa], mu, u, v [km/s], lam as (frame, H, W) float32.

    A physical failure (non-finite state, positivity lost, step limit) is not
    raised: ``ok=False``, ``failure`` says what and when, and frames from the
    failing one on are NaN.
    """
    config = config or SolverConfig()
    mu0 = _check_case(case)
    sc = case.scale
    t0 = time.perf_counter()
    U0 = initial_state(mu0, config)
    out = simulate(U0, config, dx_um=sc.dx_um, up_kms=case.up_kms, dt_frame_ns=sc.dt_frame_ns, n_frames=sc.n_frames)
    wall = time.perf_counter() - t0
    frames = out["frames"].astype(np.float32)
    slot = {name: i for i, name in enumerate(OUT_NAMES)}
    fields = {name: np.ascontiguousarray(frames[:, slot[name]]) for name in FIELDS}
    time_ns = np.arange(sc.n_frames) * sc.dt_frame_ns
    bad = np.nonzero(out["frame_status"] != 0)[0]
    ok, failure = True, None
    if bad.size:
        k = int(bad[0])
        code = int(out["frame_status"][k])
        ok = False
        failure = (f"{timestep.STATUS.get(code, code)} before frame {k} (t = {time_ns[k]:.3f} ns), "
                   f"after {out['n_steps']} steps")
        for name in fields:
            fields[name][k:] = np.nan
    inflow_T = None
    if config.bc_left == "piston":  # the inflow holds the Hugoniot state (boundaries.hugoniot_state)
        from probtok.sim.hugoniot import shocked_state

        inflow_T = shocked_state(case.up_kms, config.solid).T_K
    return SimResult(fields=fields, time_ns=time_ns, ok=ok, failure=failure, n_steps=out["n_steps"], wall_s=wall,
                     inflow_T_K=inflow_T)
