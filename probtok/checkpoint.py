"""Checkpoints of a token-model fit: save atomically, load safely, resume exactly.

A checkpoint is ONE ``torch.save`` file of plain containers and tensors only
(loaded with ``weights_only=True``: a crafted pickle is refused, never run):

    format, version, spec (dict), spec_hash, level, fit_config (dict), step,
    model_state, guide_state (module state dicts = the Pyro param store, since
    every parameter is registered through ``pyro.module``), optim_state
    (Pyro optimizer state per parameter name), rng (torch, python, numpy
    states), losses (step,), normalisation (``Normaliser.to_dict()`` or None),
    meta (dict: fields, train runs, data file...).
"""

from __future__ import annotations

import dataclasses
import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import torch

from probtok.atomic import atomic_path
from probtok.errors import CheckpointError
from probtok.model_spec import ModelSpec, spec_from_plain, spec_hash, spec_to_dict

FORMAT = "probtok.token-model-checkpoint"
VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


#: Entries every checkpoint has (see the module docstring) and their types.
_REQUIRED = {"spec": dict, "spec_hash": str, "level": str, "step": int, "fit_config": dict, "model_state": dict,
             "guide_state": dict, "optim_state": dict, "rng": dict, "losses": torch.Tensor, "meta": dict}


def rng_state() -> dict:
    """The torch, python and numpy global RNG states as tensors and ints (weights_only-safe)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
    }


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))


def make_checkpoint(*, spec: ModelSpec, level: str, fit_config, step: int, model, guide, optim, losses,
                    normalisation: dict | None, meta: dict | None) -> dict:
    """Assemble the checkpoint dict (see the module docstring)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec_to_dict(spec),
        "spec_hash": spec_hash(spec),
        "level": level,
        "fit_config": dataclasses.asdict(fit_config),
        "step": int(step),
        "model_state": model.state_dict(),
        "guide_state": guide.state_dict(),
        "optim_state": optim.get_state() if optim is not None else {},
        "rng": rng_state(),
        "losses": torch.as_tensor(np.asarray(losses, dtype=np.float64)),
        "normalisation": normalisation,
        "meta": dict(meta or {}),
    }


def restore_training_state(ckpt: dict, model, guide, optim) -> tuple[int, list]:
    """Load weights, optimizer state and RNG states of ``ckpt`` in place; return (step, losses) to continue."""
    model.load_state_dict(ckpt["model_state"])
    guide.load_state_dict(ckpt["guide_state"])
    optim.set_state(ckpt["optim_state"])
    set_rng_state(ckpt["rng"])
    return ckpt["step"], ckpt["losses"].tolist()


def save_checkpoint(path, ckpt: dict) -> None:
    """Write ``ckpt`` atomically (a kill mid-write leaves the previous checkpoint intact)."""
    with atomic_path(path, suffix=".pt.tmp") as tmp:
        try:
            torch.save(ckpt, tmp)
        except (OSError, RuntimeError) as exc:  # torch reports a full disk as RuntimeError
            raise CheckpointError(f"write failed ({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); "
                                  "the previous checkpoint is unchanged", file=path,
                                  hint="free disk space (or raise the file-size limit) and run the same "
                                  "command again: it resumes from the previous checkpoint") from exc


def load_checkpoint(path, expected_spec: ModelSpec | None = None) -> dict:
    """Load and check a checkpoint; CheckpointError if missing, unsafe, corrupt or of another spec."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise CheckpointError("checkpoint not found", file=path, hint="give the output directory of a fit")
    if not zipfile.is_zipfile(path):
        # never hand a non-archive to the unpickler at all (legacy torch format or garbage)
        raise CheckpointError("unreadable checkpoint (not a torch zip archive)", file=path,
                              hint="the file is truncated, corrupt or not a probtok checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            "refused to load: the file contains objects other than tensors and plain containers "
            "(an arbitrary pickle)", file=path, hint="only load checkpoints written by probtok from trusted sources"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - torch raises several types for truncated/corrupt zip files
        raise CheckpointError(f"unreadable checkpoint ({type(exc).__name__}: {str(exc)[:200]})", file=path,
                              hint="the file is truncated or corrupt; use an earlier checkpoint or refit") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError("not a probtok token-model checkpoint", file=path)
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"checkpoint format version {ckpt.get('version')} is not supported (expected {VERSION})",
                              file=path)
    for key, kind in _REQUIRED.items():
        if not isinstance(ckpt.get(key), kind):
            raise CheckpointError(f"malformed checkpoint: {key!r} is missing or not a {kind.__name__}", file=path,
                                  hint="the file is corrupt or not written by probtok; use an earlier checkpoint or refit")
    if ckpt["level"] not in ("micro", "meso"):
        raise CheckpointError(f"malformed checkpoint: level {ckpt['level']!r} is neither 'micro' nor 'meso'", file=path)
    try:
        stored = spec_from_plain(ckpt["spec"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"malformed checkpoint spec ({exc})", file=path,
                              hint="the file is corrupt or from another probtok version") from exc
    if spec_hash(stored) != ckpt["spec_hash"]:
        raise CheckpointError("checkpoint spec and its hash disagree (edited or corrupt file)", file=path)
    if expected_spec is not None and spec_hash(expected_spec) != ckpt["spec_hash"]:
        diff = [k for k, v in spec_to_dict(expected_spec).items() if ckpt["spec"].get(k) != v]
        raise CheckpointError(
            f"checkpoint is from another model config (differs in: {', '.join(diff) or 'hash'})", file=path,
            hint="use the config the checkpoint was fitted with, or a fresh output directory",
        )
    ckpt["spec_obj"] = stored
    return ckpt


def checkpoint_digest(path) -> str | None:
    """SHA-256 (first 16 hex digits) of the checkpoint file of a fit directory or file; None if it is not there.
    It names a fitted model by content: the same wherever its folder is copied, changed by a refit."""
    import hashlib

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def weights_digest(source) -> str:
    """SHA-256 (first 16 hex digits) of a fit's weights: every tensor of its model and guide state, by name,
    dtype, shape and bytes. ``source``: a checkpoint dict (:func:`load_checkpoint`), or a fit directory or
    checkpoint file.

    Unlike :func:`checkpoint_digest` (the file's bytes) it ignores what else a checkpoint holds (the loss
    history, the optimiser and random-number states, metadata), so that a record can say which fitted model
    it used and a refit can be checked against it: two runs of a bit-reproducible fit, or a fit and its
    resumed twin, have the same weights digest."""
    import hashlib

    ckpt = source if isinstance(source, dict) else load_checkpoint(source)
    h = hashlib.sha256()
    for part in ("model_state", "guide_state"):
        for name in sorted(ckpt[part]):
            t = ckpt[part][name]
            if t is None:  # an optional buffer left unset
                h.update(f"{part}.{name}:None;".encode())
                continue
            t = t.detach().cpu().contiguous()
            h.update(f"{part}.{name}:{t.dtype}:{tuple(t.shape)};".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def fit_start_frame(ckpt: dict) -> int:
    """The first frame the fit of ``ckpt`` described (its [fit] / adaptation ``start_frame``; frames before it
    were left out). 0 for checkpoints written before the setting existed."""
    return int(ckpt["fit_config"].get("start_frame") or 0)


def load_fitted(path):
    """Model, guide and normaliser from a fit directory or checkpoint file.

    Returns ``(model, guide, ckpt)``; ``ckpt["normalisation"]`` is a
    ``Normaliser.to_dict()`` (or None when the fit got pre-normalised tensors).
    Modules are in eval mode and their parameters do not require gradients.
    """
    from probtok.guides import TokenGuide
    from probtok.model import TokenModel

    ckpt = load_checkpoint(path)
    spec = ckpt["spec_obj"]
    try:
        model = TokenModel(spec, ckpt["level"])
        guide = TokenGuide(spec, ckpt["level"], n_runs=ckpt["meta"].get("n_runs"))
        model.load_state_dict(ckpt["model_state"])
        guide.load_state_dict(ckpt["guide_state"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"weights do not fit the stored spec ({type(exc).__name__}: {str(exc)[:200]})",
                              file=path, hint="the file is corrupt or not written by probtok; refit") from exc
    guide.attach(model)
    for mod in (model, guide):
        mod.eval()
        mod.requires_grad_(False)
    return model, guide, ckpt
