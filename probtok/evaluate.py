"""Evaluation of a fitted token model on held-out runs: free rollouts from the first frame.

The first frame is the fit's ``start_frame`` (frame 0 unless the fit left earlier frames out); the
arrays below cover frames start_frame .. frames - 1. Four predictions of every frame of a run, all from
its first frame only (except ``reconstruction``):

* ``model``: posterior-predictive mean of ``n_draws`` stochastic rollouts
  (z0 ~ q(z0 | x0), transition noise included), decoded;
* ``mean_only``: the same model without its stochastic parts (encoder mean,
  transition means);
* ``persistence``: the first frame repeated;
* ``reconstruction``: encode/decode of every true frame (not a forecast: it
  measures the tokenizer alone).

Field RMSE per field and frame in physical units (over runs and cells), and
hot-spot metric errors (``T_hs`` [K], ``A_hs`` [um^2]) at the dataset's
threshold, and their rates between frames (per ns): mean absolute error over
runs per frame (rates: per frame interval); for ``model`` the metric is
computed per draw and its median over draws is the point forecast.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from probtok.atomic import atomic_write_text
from probtok.checkpoint import fit_start_frame, load_fitted
from probtok.data.validate import require_fields
from probtok.errors import ConfigError, DataError
from probtok.fit import check_start_frame

#: the methods scored, on the fields and on the hot spots. "reconstruction" (every true frame encoded, then
#: decoded) is the tokenizer's own error: a forecast decodes the same tokens without seeing the frames, so it
#: seldom does better. On the benchmark's test runs 24-29 its mean |error| of T_hs was 305 K for the tiny
#: tokenizer and 179 K for micro-s4 (README, "The tiny tokenizer reads hot spots cold").
METHODS = ("model", "mean_only", "persistence", "reconstruction")


def _reconstruct(guide, model, x: torch.Tensor) -> torch.Tensor:
    """Encode every frame (filtering with the previous posterior mean) and decode: (T, C, H, W)."""
    z, zs = None, []
    for t in range(x.shape[0]):
        z, _ = guide.q_z(x[t : t + 1], z)
        zs.append(z)
    return model.decode(torch.stack(zs, 1))[0]


@torch.no_grad()
def predict_run(model, guide, x_norm: torch.Tensor, n_draws: int, generator) -> dict[str, torch.Tensor]:
    """Predictions (normalised units) for one run x_norm (T, C, H, W): {method: (T, C, H, W)},
    plus "draws": (n_draws, T, C, H, W)."""
    T = x_norm.shape[0]
    x0 = x_norm[:1]
    z_mean = guide.encode_first(x0)
    mean_only = model.decode(model.rollout(z_mean, T, stochastic=False))[0]
    out = {"mean_only": mean_only, "persistence": x0.expand(T, *x0.shape[1:]),
           "reconstruction": _reconstruct(guide, model, x_norm)}
    if n_draws > 0:
        z0 = guide.encode_first(x0, n_draws=n_draws, generator=generator)[:, 0]
        draws = model.decode(model.rollout(z0, T, stochastic=True, generator=generator))
        out["draws"] = draws
        out["model"] = draws.mean(0)
    return out


def evaluate(model_dir, data, runs=None, *, n_draws: int = 20, n_frames: int | None = None, seed: int = 0,
             out_json=None, progress: bool = True) -> dict:
    """Evaluate a fit directory on runs of a dataset file; returns (and optionally writes) the result dict.

    runs : run indices (default: the fit's held-out runs, else every ok run).
    n_frames : rollout length including the first frame (default: all frames).
    """
    from probtok.data import open_dataset
    from probtok.data.normalize import Normaliser
    from probtok.hotspots import hotspot_area, hotspot_temperature

    model, guide, ckpt = load_fitted(model_dir)
    spec = model.spec
    if ckpt["normalisation"] is None:
        raise ConfigError("the fit stored no normalisation (it was fitted on pre-normalised tensors)",
                          file=model_dir, hint="fit with `probtok fit-micro` on a dataset file")
    norm = Normaliser.from_dict(ckpt["normalisation"])
    with open_dataset(data) as ds:
        require_fields(ds, spec.fields, data)
        if runs is None:
            held = ckpt["meta"].get("holdout_runs") if Path(str(ckpt["meta"].get("data", ""))).name == Path(data).name else None
            runs = list(held) if held else [int(r) for r in ds.ok_runs]
        runs = [int(r) for r in runs]
        if not runs:
            raise DataError("no runs to evaluate", file=data, hint="give --runs")
        T = ds.n_frames if n_frames is None else min(int(n_frames), ds.n_frames)
        # a fit that left out the frames before its start frame is rolled out from there
        start = fit_start_frame(ckpt)
        check_start_frame(start, T, hint=f"the model's fit starts at frame {start}: raise --frames")
        units = [ds.units[f] for f in spec.fields]
        stats = ds.normalisation()
        field_range = np.array([stats["max"][ds.fields.index(f)] - stats["min"][ds.fields.index(f)] for f in spec.fields])
        threshold, dx_um, dt_ns = ds.hotspot_threshold_K, ds.dx_um, ds.dt_frame_ns
        time_ns = ds.time_ns[start:T].tolist()

        gen = torch.Generator().manual_seed(seed)
        sq = {m: np.zeros((T - start, spec.n_fields)) for m in METHODS}
        has_T = "T" in spec.fields
        iT = spec.fields.index("T") if has_T else None
        hs = {k: {m: [] for m in ("truth", *METHODS)} for k in ("T_hs", "A_hs")}
        from probtok.progress import track

        iterator = track(runs, "evaluate") if progress else runs
        for r in iterator:
            truth = torch.as_tensor(ds.frames(r, spec.fields, frames=slice(start, T)))
            if truth.shape[-2] % spec.token_size or truth.shape[-1] % spec.token_size:
                raise DataError(f"grid {tuple(truth.shape[-2:])} is not a multiple of the token size {spec.token_size}",
                                file=data, run=r)
            pred = predict_run(model, guide, norm.forward(truth), n_draws, gen)
            phys = {k: norm.inverse(v) for k, v in pred.items()}
            for m in METHODS:
                if m in phys:
                    sq[m] += ((phys[m] - truth) ** 2).mean(dim=(-2, -1)).double().numpy()
            if has_T:
                series = {"truth": truth[:, iT], "mean_only": phys["mean_only"][:, iT],
                          "persistence": phys["persistence"][:, iT], "reconstruction": phys["reconstruction"][:, iT]}
                for name, Tf in series.items():
                    hs["T_hs"][name].append(hotspot_temperature(Tf, threshold).numpy())
                    hs["A_hs"][name].append(hotspot_area(Tf, dx_um, threshold).numpy())
                if "draws" in phys:
                    Td = phys["draws"][:, :, iT]
                    hs["T_hs"]["model"].append(np.median(hotspot_temperature(Td, threshold).numpy(), 0))
                    hs["A_hs"]["model"].append(np.median(hotspot_area(Td, dx_um, threshold).numpy(), 0))

    n = len(runs)
    rmse = {m: {f: np.sqrt(sq[m][:, i] / n).tolist() for i, f in enumerate(spec.fields)}
            for m in METHODS if (m != "model" or n_draws > 0)}
    result = {
        "model_dir": str(model_dir), "data": str(data), "runs": runs, "n_draws": n_draws, "frames": T,
        "start_frame": start,
        "time_ns": time_ns, "fields": list(spec.fields), "units": units,
        "field_range": dict(zip(spec.fields, field_range.tolist())),
        "rmse": rmse,
        "note": "RMSE in physical units over runs and cells per frame (frames start_frame .. frames - 1; rollouts "
                "start at start_frame); model = mean of n_draws stochastic rollouts",
    }
    if has_T:
        truth_T = np.stack(hs["T_hs"]["truth"])
        truth_A = np.stack(hs["A_hs"]["truth"])
        from probtok.hotspots import rates

        mae = {}
        for m in METHODS:
            if hs["T_hs"][m]:
                pT, pA = np.stack(hs["T_hs"][m]), np.stack(hs["A_hs"][m])
                mae[m] = {"T_hs_K": np.abs(pT - truth_T).mean(0).tolist(),
                          "A_hs_um2": np.abs(pA - truth_A).mean(0).tolist(),
                          "dT_hs_dt_K_per_ns": np.abs(rates(pT, dt_ns) - rates(truth_T, dt_ns)).mean(0).tolist(),
                          "dA_hs_dt_um2_per_ns": np.abs(rates(pA, dt_ns) - rates(truth_A, dt_ns)).mean(0).tolist()}
        result["hotspots"] = {"threshold_K": threshold, "dx_um": dx_um, "dt_ns": dt_ns,
                              "truth_mean": {"T_hs_K": truth_T.mean(0).tolist(), "A_hs_um2": truth_A.mean(0).tolist()},
                              "mae": mae}
    if out_json is not None:
        atomic_write_text(out_json, json.dumps(result, indent=1))
    return result


def summary_rows(result: dict) -> list[tuple]:
    """Rows (field, unit, method, rmse frame 1, rmse last frame, last-frame ratio to persistence)."""
    rows = []
    for f, u in zip(result["fields"], result["units"]):
        pers = result["rmse"]["persistence"][f][-1]
        for m, by_field in result["rmse"].items():
            e = by_field[f]
            rows.append((f, u, m, e[1], e[-1], e[-1] / pers if pers > 0 else float("nan")))
    return rows


def render_tables(result: dict):
    """Rich tables of the result (field RMSE; hot-spot errors)."""
    from rich.table import Table

    s = int(result.get("start_frame", 0))
    t = Table(title=f"field RMSE, {len(result['runs'])} runs, rollouts from frame {s} to {result['frames'] - 1} "
                    "(physical units)")
    for col in ("field", "unit", "method", f"RMSE frame {s + 1}", f"RMSE frame {result['frames'] - 1}", "last / persistence",
                "last / range"):
        t.add_column(col, justify="right" if col.startswith(("RMSE", "last")) else "left")
    for f, u, m, e1, el, ratio in summary_rows(result):
        rng = result["field_range"][f]
        t.add_row(f, u, m, f"{e1:.4g}", f"{el:.4g}", f"{ratio:.3f}", f"{el / rng:.2%}" if rng > 0 else "-")
    tables = [t]
    if "hotspots" in result:
        h = result["hotspots"]
        t2 = Table(title=f"hot-spot errors (threshold {h['threshold_K']:g} K), mean |error| over runs",
                   caption="reconstruction: every true frame encoded and decoded (the tokenizer's own error, with "
                           "every frame seen)" if "reconstruction" in h["mae"] else None)
        for col in ("method", "T_hs last [K]", "T_hs mean over frames [K]", "A_hs last [um^2]", "A_hs mean [um^2]"):
            t2.add_column(col, justify="right" if col != "method" else "left")
        for m, e in h["mae"].items():
            t2.add_row(m, f"{e['T_hs_K'][-1]:.4g}", f"{np.mean(e['T_hs_K']):.4g}", f"{e['A_hs_um2'][-1]:.4g}",
                       f"{np.mean(e['A_hs_um2']):.4g}")
        t2.add_row("(truth mean)", f"{h['truth_mean']['T_hs_K'][-1]:.4g}", "", f"{h['truth_mean']['A_hs_um2'][-1]:.4g}", "")
        tables.append(t2)
    return tables
