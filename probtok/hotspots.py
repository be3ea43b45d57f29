"""Hot-spot metrics, as the PARC papers define them, for NumPy arrays and torch tensors.

``T`` has shape (..., y, x) with any leading dims (posterior draw, run, frame);
every function reduces the last two dims and keeps the leading ones.

* hot-spot area ``A_hs`` [um^2] = number of cells with ``T > threshold_K`` times ``dx_um**2``;
* hot-spot temperature ``T_hs`` [K] = mean of ``T`` over those cells, 0 when there are none;
* rates: forward differences between consecutive frames along the LAST axis,
  divided by the frame interval: ``rate[..., k] = (s[..., k+1] - s[..., k]) / dt_ns``,
  shape (..., frame - 1), unit per ns (the rate over frame interval k -> k+1).

Non-finite temperatures never count as hot (``NaN > threshold`` is false).
"""

from __future__ import annotations

import numpy as np

from probtok.data.schema import DEFAULT_HOTSPOT_THRESHOLD_K


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _asarray(T):
    return T if _is_torch(T) else np.asarray(T)


def _float_dtype(T):
    # numpy results are float64 (sums over large grids in float32 lose digits);
    # torch keeps the input's float dtype so that autograd and devices work as usual.
    if _is_torch(T):
        return T.dtype if T.is_floating_point() else None
    return np.float64


def hotspot_mask(T, threshold_K: float = DEFAULT_HOTSPOT_THRESHOLD_K):
    """Boolean mask of hot cells, ``T > threshold_K``, same shape as ``T``."""
    return _asarray(T) > threshold_K


def hotspot_count(T, threshold_K: float = DEFAULT_HOTSPOT_THRESHOLD_K):
    """Number of hot cells, shape T.shape[:-2]; float64 for numpy, T's float dtype for torch."""
    T = _asarray(T)
    mask = hotspot_mask(T, threshold_K)
    if _is_torch(T):
        import torch

        return mask.to(_float_dtype(T) or torch.get_default_dtype()).sum(dim=(-2, -1))
    return mask.sum(axis=(-2, -1)).astype(_float_dtype(T))


def hotspot_area(T, dx_um: float, threshold_K: float = DEFAULT_HOTSPOT_THRESHOLD_K):
    """Hot-spot area [um^2] = count(T > threshold_K) * dx_um^2, shape T.shape[:-2]."""
    return hotspot_count(T, threshold_K) * float(dx_um) ** 2


def hotspot_temperature(T, threshold_K: float = DEFAULT_HOTSPOT_THRESHOLD_K):
    """Mean temperature [K] over the hot cells, 0 where no cell is hot; shape T.shape[:-2]."""
    T = _asarray(T)
    mask = hotspot_mask(T, threshold_K)
    n = hotspot_count(T, threshold_K)
    if _is_torch(T):
        import torch

        total = torch.where(mask, T, torch.zeros_like(T)).sum(dim=(-2, -1))
        return torch.where(n > 0, total / n.clamp(min=1), torch.zeros_like(total))
    total = np.where(mask, T, 0).sum(axis=(-2, -1), dtype=np.float64)
    return np.where(n > 0, total / np.maximum(n, 1), 0).astype(n.dtype)


def rates(series, dt_ns: float):
    """Forward-difference rate per ns along the last axis: (s[..., 1:] - s[..., :-1]) / dt_ns.

    Shape (..., frame - 1); element k is the mean rate over frames k -> k+1.
    """
    s = _asarray(series)
    return (s[..., 1:] - s[..., :-1]) / float(dt_ns)


def hotspot_metrics(T, dx_um: float, dt_ns: float, threshold_K: float = DEFAULT_HOTSPOT_THRESHOLD_K) -> dict:
    """All hot-spot metrics of a temperature history ``T`` (..., frame, y, x) [K].

    Returns {"A_hs" [um^2] (..., frame), "T_hs" [K] (..., frame),
    "dA_hs_dt" [um^2/ns] (..., frame-1), "dT_hs_dt" [K/ns] (..., frame-1)}.
    Note that ``dT_hs_dt`` jumps when the first cell turns hot (T_hs goes from 0).
    """
    area = hotspot_area(T, dx_um, threshold_K)
    temp = hotspot_temperature(T, threshold_K)
    return {"A_hs": area, "T_hs": temp, "dA_hs_dt": rates(area, dt_ns), "dT_hs_dt": rates(temp, dt_ns)}


def growth_class(A_hs, rel_margin: float = 0.1) -> np.ndarray:
    """Classify hot-spot histories A_hs (..., frame) as "none", "quench" or "grow".

    "none": no hot cell at any frame. Otherwise let ``A_peak`` be the value at the
    first local maximum of A_hs (the end of pore collapse: the first frame k with
    A_hs[k] > 0 and A_hs[k+1] <= A_hs[k]). The hot spot "grow"s if the final
    area exceeds ``(1 + rel_margin) * A_peak`` (it kept growing after collapse,
    i.e. reaction outpaced quenching), or if the area rises to the last frame
    without any such maximum (still growing when the run ends); else it "quench"es.
    Returns a str array of shape A_hs.shape[:-1].
    """
    a = np.asarray(A_hs.detach().cpu() if _is_torch(A_hs) else A_hs, dtype=np.float64)
    flat = a.reshape(-1, a.shape[-1])
    out = np.empty(flat.shape[0], dtype=object)
    for i, s in enumerate(flat):
        out[i] = _classify_one(s, rel_margin)
    return out.reshape(a.shape[:-1]).astype(str)


def _classify_one(s: np.ndarray, rel_margin: float) -> str:
    if not np.any(s > 0):
        return "none"
    first = int(np.argmax(s > 0))
    k = first
    while k + 1 < s.size and s[k + 1] > s[k]:
        k += 1
    if k == s.size - 1:
        return "grow"
    return "grow" if s[-1] > (1 + rel_margin) * s[k] else "quench"


def bulk_shocked_temperature(T, mu, u, up_kms: float, lam=None, solid_min: float = 0.99,
                             lam_max: float = 1e-3) -> float:
    """Median temperature [K] of shocked, unreacted solid cells in one frame (y, x), NaN if none.

    Shocked solid: solid fraction ``mu >= solid_min`` and x-velocity above half
    the piston velocity ``up_kms`` [km/s]; with ``lam`` given, only cells with
    reaction progress ``lam <= lam_max`` count (late in a burning meso run the
    reacted solid would otherwise be taken for the bulk). The median ignores the
    few hot-spot cells.
    """
    T, mu, u = (np.asarray(a, dtype=np.float64) for a in (T, mu, u))
    sel = (mu >= solid_min) & (u > 0.5 * up_kms) & np.isfinite(T)
    if lam is not None:
        sel &= np.asarray(lam, dtype=np.float64) <= lam_max
    return float(np.median(T[sel])) if sel.any() else float("nan")


def choose_threshold(bulk_T_K, default_K: float = DEFAULT_HOTSPOT_THRESHOLD_K, margin_K: float = 100.0,
                     inflow_T_K=None) -> float:
    """Hot-spot threshold [K] for a campaign: ``default_K`` unless the hottest bulk
    shocked temperature of its runs (+ ``margin_K``) exceeds it, then that, rounded up to 25 K.
    ``inflow_T_K`` (run,): the Hugoniot state each run's piston feeds in; a run's bulk is then the hotter of
    the two (NaN: not known)."""
    b = np.asarray(bulk_T_K, dtype=np.float64)
    if inflow_T_K is not None:
        b = np.fmax(b, np.asarray(inflow_T_K, dtype=np.float64))
    b = b[np.isfinite(b)]
    if b.size == 0 or b.max() + margin_K <= default_K:
        return float(default_K)
    return float(np.ceil((b.max() + margin_K) / 25.0) * 25.0)
