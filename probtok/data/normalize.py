"""Per-field affine normalisation of fields, computed once, stored, invertible.

``x_norm = (x - shift) / scale`` per field, with

* ``kind="minmax"``: shift = (min + max) / 2, scale = (max - min) / 2, so the
  training data lie in [-1, 1];
* ``kind="standard"``: shift = mean, scale = std (zero mean, unit std).

Fields named in ``log_fields`` (e.g. temperature, which spans 300 K in the bulk to several
thousand kelvin in hot spots) are mapped through ``ln`` first, and the affine map acts on ``ln x``:
``x_norm = (ln x - shift) / scale`` with the min-max statistics of ``ln x`` (``ln`` is monotone, so they
are the logs of the stored min and max). An error of a given *relative* size then weighs the same at
every temperature, where the affine map lets the hot-spot range set the unit.

Statistics are accumulated run by run (:class:`RunningStats`, Chan's parallel
mean/variance update in float64) so a dataset never has to fit in memory.
Works on NumPy arrays and torch tensors; the field axis is given explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from probtok.errors import ConfigError

KINDS = ("minmax", "standard")


@dataclass
class RunningStats:
    """Streaming per-field min, max, mean and variance over finite values (float64)."""

    n_fields: int
    count: np.ndarray = field(init=False)
    mean: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)
    min: np.ndarray = field(init=False)
    max: np.ndarray = field(init=False)

    def __post_init__(self):
        f = self.n_fields
        self.count = np.zeros(f)
        self.mean = np.zeros(f)
        self.m2 = np.zeros(f)
        self.min = np.full(f, np.inf)
        self.max = np.full(f, -np.inf)

    def update(self, frames: np.ndarray, field_axis: int = 1) -> None:
        """Add a block of values, e.g. one run's frames (frame, field, y, x)."""
        x = np.moveaxis(np.asarray(frames, dtype=np.float64), field_axis, 0).reshape(self.n_fields, -1)
        for k in range(self.n_fields):
            v = x[k][np.isfinite(x[k])]
            if v.size == 0:
                continue
            n_b, mean_b = v.size, v.mean()
            m2_b = ((v - mean_b) ** 2).sum()
            n_a = self.count[k]
            n = n_a + n_b
            delta = mean_b - self.mean[k]
            self.mean[k] += delta * n_b / n
            self.m2[k] += m2_b + delta**2 * n_a * n_b / n
            self.count[k] = n
            self.min[k] = min(self.min[k], v.min())
            self.max[k] = max(self.max[k], v.max())

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per field (NaN where no data)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, np.sqrt(self.m2 / np.maximum(self.count, 1)), np.nan)

    def as_dict(self) -> dict[str, np.ndarray]:
        """{"min", "max", "mean", "std"} arrays of shape (field,), NaN where no data."""
        empty = self.count == 0
        return {
            "min": np.where(empty, np.nan, self.min),
            "max": np.where(empty, np.nan, self.max),
            "mean": np.where(empty, np.nan, self.mean),
            "std": self.std,
        }


@dataclass(frozen=True)
class Normaliser:
    """Invertible per-field affine map ``(x - shift) / scale``; shift, scale shape (field,)."""

    fields: tuple[str, ...]
    shift: np.ndarray
    scale: np.ndarray
    kind: str = "minmax"
    log_fields: tuple[str, ...] = ()  # fields mapped through ln before the affine map

    @classmethod
    def from_stats(cls, fields, stats: dict, kind: str = "minmax", log_fields=()) -> "Normaliser":
        """Build from stored statistics {"min","max","mean","std"} (each (field,))."""
        if kind not in KINDS:
            raise ConfigError(f"unknown normalisation kind {kind!r}", hint=f"use one of {KINDS}")
        fields, log_fields = tuple(fields), tuple(log_fields)
        unknown = [f for f in log_fields if f not in fields]
        if unknown:
            raise ConfigError(f"log_fields {unknown} are not among the fields {fields}")
        is_log = np.array([f in log_fields for f in fields])
        if kind == "minmax":
            lo, hi = np.asarray(stats["min"], float), np.asarray(stats["max"], float)
            if is_log.any():
                bad = [f for f, l, a in zip(fields, is_log, lo) if l and not a > 0]
                if bad:
                    raise ConfigError(f"log_fields {bad} have values <= 0 (minimum {lo[is_log].min():g})",
                                      hint="only strictly positive fields (e.g. T in K) can be log-normalised")
                log_where = lambda a: np.where(is_log, np.log(np.where(is_log, a, 1.0)), a)  # noqa: E731
                lo, hi = log_where(lo), log_where(hi)
            shift, scale = (lo + hi) / 2, (hi - lo) / 2
        else:
            if is_log.any():
                raise ConfigError("log_fields need the min-max normalisation",
                                  hint="the stored mean and std are those of x, not of ln x")
            shift, scale = np.asarray(stats["mean"], float), np.asarray(stats["std"], float)
        # A constant (or absent) field maps to x - shift, never to a division by zero.
        shift = np.where(np.isfinite(shift), shift, 0.0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        return cls(fields, shift, scale, kind, log_fields)

    def subset(self, fields) -> "Normaliser":
        """The same map restricted to ``fields`` (in that order)."""
        idx = [self.fields.index(f) for f in fields]
        return Normaliser(tuple(fields), self.shift[idx], self.scale[idx], self.kind,
                          tuple(f for f in self.log_fields if f in fields))

    def _field_shape(self, x, field_axis: int) -> list[int]:
        """The shape that broadcasts a per-field vector against x (ConfigError when the field axis of x
        does not hold this normaliser's fields)."""
        axis = field_axis % x.ndim
        if x.shape[axis] != len(self.fields):
            raise ConfigError(
                f"normaliser has {len(self.fields)} fields {self.fields} but axis {field_axis} "
                f"of the data has length {x.shape[axis]}",
                hint="select the same fields, or use Normaliser.subset",
            )
        shape = [1] * x.ndim
        shape[axis] = len(self.fields)
        return shape

    def _coeffs(self, x, field_axis: int):
        shape = self._field_shape(x, field_axis)
        if _lib(x) is not np:
            import torch

            mk = lambda a: torch.as_tensor(a.reshape(shape), dtype=x.dtype, device=x.device)  # noqa: E731
        else:
            mk = lambda a: a.reshape(shape).astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)  # noqa: E731
        return mk(self.shift), mk(self.scale)

    def _log_mask(self, x, field_axis: int):
        """Boolean mask broadcastable to x, True on the log fields; None when there are none."""
        if not self.log_fields:
            return None
        mask = np.array([f in self.log_fields for f in self.fields]).reshape(self._field_shape(x, field_axis))
        return mask if _lib(x) is np else _lib(x).as_tensor(mask, device=x.device)

    def forward(self, x, field_axis: int = -3):
        """Physical units -> normalised; ``field_axis`` indexes the field dim (default (.., field, y, x))."""
        shift, scale = self._coeffs(x, field_axis)
        mask = self._log_mask(x, field_axis)
        if mask is not None:
            lib = _lib(x)
            # ln only where selected; the other fields (P may be <= 0) pass through untouched
            x = lib.where(mask, lib.log(lib.where(mask, x, lib.ones_like(x))), x)
        return (x - shift) / scale

    def inverse(self, x, field_axis: int = -3):
        """Normalised -> physical units (exact inverse of :meth:`forward` up to round-off)."""
        shift, scale = self._coeffs(x, field_axis)
        y = x * scale + shift  # a new array: the log fields are exponentiated in place, slice by slice
        # (a where() over all fields made three more full copies: GBs for the draws of a meso forecast)
        lib, axis = _lib(y), field_axis % y.ndim
        for i, f in enumerate(self.fields):
            if f in self.log_fields:
                at = (slice(None),) * axis + (i,)
                y[at] = lib.exp(y[at])
        return y

    def to_dict(self) -> dict:
        """JSON-serialisable form (for checkpoints and configs)."""
        return {"fields": list(self.fields), "shift": self.shift.tolist(), "scale": self.scale.tolist(),
                "kind": self.kind, "log_fields": list(self.log_fields)}

    @classmethod
    def from_dict(cls, d: dict) -> "Normaliser":
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(tuple(d["fields"]), np.asarray(d["shift"], float), np.asarray(d["scale"], float),
                       d.get("kind", "minmax"), tuple(d.get("log_fields", ())))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not a normaliser description ({exc})",
                              hint="expected keys fields, shift, scale, kind") from exc


def _lib(x):
    """torch for tensors, else NumPy (the two share where / log / exp / ones_like / zeros_like)."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    return np
