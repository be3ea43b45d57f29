"""The catalogue of bad inputs and faults (issue 7): each entry one bad input or fault, what the
user sees (exit code, the one-line message and its hint) and what must still be intact.

Entries run the CLI in-process (``probtok.cli.main``) on a small workspace of good files (a micro
and a meso run file, a tiny config, a tiny micro fit). After EVERY entry the workspace is
byte-identical to before: a bad input never damages what already exists. Faults that need a real
process (disk full, kill -9, a dying Dask worker) run the CLI or a campaign in a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
import torch

from probtok.cli import main
from probtok.data import open_dataset, validate_file, write_dataset
from probtok.data.validate import check_compatible
from probtok.errors import ProbtokError
from probtok.sim import campaign as cp
from probtok.sim.case import Case, ScaleSpec, SimResult

TESTS = Path(__file__).resolve().parent
FIELDS = ("T", "P", "mu")
UNITS = {"T": "K", "P": "GPa", "mu": "1"}
MICRO_DT, MESO_DT, DX = 0.05, 0.10, 0.1

CONFIG = """\
[card]
name = "catalogue"
[model]
fields = ["T", "P", "mu"]
token_size = 4
token_dim = 2
mixture_components = 2
encoder_width = 4
decoder_width = 4
drift_width = 4
[meso]
task_dim = 1
coupling_width = 2
steps_per_frame = 2
[fit]
steps = {steps}
batch_runs = 4
learning_rate = 1e-2
rollout_horizon_start = 1
rollout_horizon_end = 2
checkpoint_every = {every}
seed = 3
"""


def hot_disc_runs(n_runs: int, n_frames: int, H: int, W: int, seed: int = 0) -> np.ndarray:
    """(run, frame, field, y, x) float32 in physical units: 400 K bulk, a hot disc moving along x."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W] + 0.5
    out = np.empty((n_runs, n_frames, 3, H, W), np.float32)
    for r in range(n_runs):
        for t in range(n_frames):
            disc = (x - 2 - t) ** 2 + (y - H / 2) ** 2 < (1.5 + 0.3 * r) ** 2
            out[r, t, 0] = np.where(disc, 1200 + 100 * r, 400) + rng.normal(0, 5, (H, W))
            out[r, t, 1] = 10 + rng.normal(0, 0.1, (H, W))
            out[r, t, 2] = np.where(disc, 0.3, 1.0)
    return out


def write_runs(path, frames, dt=MICRO_DT, dx=DX, fields=FIELDS, units=None, status=None, setup="micro"):
    n = frames.shape[0]
    status = status or ["ok"] * n
    return write_dataset(path, frames, np.arange(frames.shape[1]) * dt, fields=fields, units=units or UNITS,
                         dx_um=dx, dt_frame_ns=dt, setup=setup, status=status,
                         failure=["" if s == "ok" else "positivity lost at step 7" for s in status])


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The workspace of good files every entry runs against (and must leave intact)."""
    d = tmp_path_factory.mktemp("catalogue")
    write_runs(d / "micro.h5", hot_disc_runs(4, 6, 8, 8))
    write_runs(d / "meso.h5", hot_disc_runs(3, 5, 8, 12, seed=1), dt=MESO_DT, status=["ok", "ok", "failed"],
               setup="meso")
    (d / "tiny.toml").write_text(CONFIG.format(steps=4, every=2))
    assert main(["fit-micro", "--data", str(d / "micro.h5"), "--config", str(d / "tiny.toml"),
                 "--out", str(d / "fit"), "--holdout", "0.25"]) == 0
    return d


def snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


# -- bad files, made per entry in its own folder t -----------------------------------------------------

def text_file(t):
    (t / "notes.h5").write_text("T,P,mu\n400,10,1\n")
    return t / "notes.h5"


def truncated(ws, t):
    b = (ws / "micro.h5").read_bytes()
    (t / "cut.h5").write_bytes(b[: len(b) // 2])  # e.g. an interrupted scp
    return t / "cut.h5"


def other_schema(t):
    with h5py.File(t / "other.h5", "w") as f:
        f.attrs["format"] = "netcdf-something"
        f.create_dataset("temperature", data=np.zeros((2, 3)))
    return t / "other.h5"


def edited(ws, t, name, edit):
    """A copy of the micro file with ``edit(h5py.File)`` applied (what a foreign tool might write)."""
    p = t / name
    p.write_bytes((ws / "micro.h5").read_bytes())
    with h5py.File(p, "r+") as f:
        edit(f)
    return p


def set_value(f, index, value):
    d = f["frames"]
    block = d[index[0], index[1]]
    block[index[2:]] = value
    d[index[0], index[1]] = block


def unnamed_extra_field(f):
    x = f["frames"][()]
    del f["frames"]
    f.create_dataset("frames", data=np.concatenate([x, x[:, :, :1]], axis=2))


def transposed_labels(f):
    for k, label in enumerate(("run", "frame", "field", "x", "y")):
        f["frames"].dims[k].label = label


def empty_frames(f):
    del f["frames"]
    f.create_dataset("frames", shape=(0, 6, 3, 8, 8), dtype="f4")


def npy(t, name, array):
    np.save(t / name, array)
    return t / name


def paper_layout(frames):
    """(run, frame, field, y, x) -> the paper code's (runs, H, W, fields, frames)."""
    return np.transpose(frames, (0, 3, 4, 2, 1))


def config(t, text):
    (t / "c.toml").write_text(text)
    return t / "c.toml"


def import_args(src, out, fields="T,P,mu", units="K,GPa,1"):
    return ["import-arrays", str(src), "--fields", fields, "--units", units, "--dx-um", str(DX),
            "--dt-ns", str(MICRO_DT), "--out", str(out)]


def fit_args(ws, data, cfg, out):
    return ["fit-micro", "--data", str(data), "--config", str(cfg), "--out", str(out)]


def forecast_args(ws, *extra, model=None, data=None, out=None):
    return ["forecast", "--model", str(model or ws / "fit"), "--data", str(data or ws / "meso.h5"),
            "--out", str(out or ws.parent / "fc-never-written"), "--draws", "4", "--no-plots", *extra]


class Payload:
    """A pickle payload: unpickling it creates the file ``marker`` (i.e. runs code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted_torch_checkpoint(t):
    """A torch zip archive that looks like a probtok checkpoint and carries a code-running payload."""
    (t / "evil").mkdir()
    torch.save({"format": "probtok.token-model-checkpoint", "version": 1, "spec": Payload(t / "PWNED")},
               t / "evil" / "checkpoint.pt")
    return t / "evil"


def crafted_raw_pickle(t):
    (t / "evil").mkdir()
    (t / "evil" / "checkpoint.pt").write_bytes(pickle.dumps({"format": Payload(t / "PWNED")}))
    return t / "evil"


def no_pwned(ws, t):
    assert not (t / "PWNED").exists(), "the pickle payload ran"


def not_created(*names):
    def check(ws, t):
        for n in names:
            assert not (t / n).exists(), f"{n} was written"
        assert not [p for p in t.rglob(".*.tmp")], "temporary files left behind"
    return check


def a_file_in_the_way(t):
    (t / "blocker").write_text("a regular file where a folder is needed")
    return t / "blocker" / "out"


# -- the catalogue ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One bad input or fault: the CLI call (or a library call), what the user sees, what stays intact."""

    name: str
    argv: Callable | None  # (ws, t) -> argv of `probtok`
    exit_code: int = 2
    says: tuple = ()  # substrings of the error line (and hint)
    intact: Callable | None = None  # (ws, t) -> None, asserts
    call: Callable | None = None  # (ws, t) -> None, must raise ProbtokError (library-level entries)
    one_line: bool = True
    not_says: tuple = ()  # must not appear in the output (e.g. work done before the error)


CATALOGUE = [
    # --- run files -------------------------------------------------------------------------------------
    Entry("missing file", lambda ws, t: ["info", str(t / "nowhere.h5")], says=("nowhere.h5: no such file",)),
    Entry("not HDF5 (a CSV renamed .h5)", lambda ws, t: ["info", str(text_file(t))], says=("not an HDF5 file",
                                                                                            "import-arrays")),
    Entry("truncated HDF5 (half a file)", lambda ws, t: ["info", str(truncated(ws, t))],
          says=("cut.h5: HDF5 file is truncated",)),
    Entry("HDF5 of another schema", lambda ws, t: ["info", str(other_schema(t))],
          says=("not a probtok run file", "netcdf-something")),
    Entry("a directory instead of a file", lambda ws, t: ["info", str(t)], says=("is a directory",)),
    Entry("missing field the config needs",
          lambda ws, t: fit_args(ws, ws / "micro.h5", config(t, CONFIG.format(steps=2, every=2).replace(
              '"P", "mu"]', '"P", "lam"]')), t / "fit"),
          says=("micro.h5: field 'lam': missing field",), intact=not_created("fit")),
    Entry("extra unnamed field in the frames", lambda ws, t: ["info", str(edited(ws, t, "x.h5", unnamed_extra_field))],
          says=("frames has 4 fields but the fields attribute names 3",)),
    Entry("wrong dimension order (HDF5 labels y/x swapped)",
          lambda ws, t: ["info", str(edited(ws, t, "x.h5", transposed_labels))],
          says=("dimension order is", "transpose")),
    Entry("wrong dimension order (arrays given as run, frame, field, y, x)",
          lambda ws, t: import_args(npy(t, "a.npy", hot_disc_runs(2, 5, 6, 6)), t / "o.h5"),
          says=("axis 3 (fields) has length 6", "dimension order"), intact=not_created("o.h5")),
    Entry("NaN in a field", lambda ws, t: ["info", "--check", str(edited(ws, t, "x.h5", lambda f: set_value(
        f, (1, 2, 0, 3, 3), np.nan)))], says=("run 1: field 'T': 1 non-finite values", "first at frame 2")),
    Entry("inf in a field (import)", lambda ws, t: import_args(npy(t, "a.npy", paper_layout(np.where(
        np.arange(4)[:, None, None, None, None] == 2, np.inf, hot_disc_runs(4, 5, 6, 6)))), t / "o.h5"),
        says=("run 2: field 'T': ", "non-finite"), intact=not_created("o.h5")),
    Entry("negative temperature", lambda ws, t: ["info", "--check", str(edited(ws, t, "x.h5", lambda f: set_value(
        f, (3, 4, 0, 0, 0), -12.0)))], says=("run 3: field 'T': negative values (min -12", "units")),
    Entry("negative density (import)", lambda ws, t: import_args(npy(t, "a.npy", paper_layout(
        hot_disc_runs(2, 4, 6, 6) * np.array([1, 1, -1], np.float32)[:, None, None])), t / "o.h5",
        fields="T,P,density", units="K,GPa,g/cc"), says=("field 'rho': negative values",),
        intact=not_created("o.h5")),
    Entry("temperature in Celsius is converted, Fahrenheit refused",
          lambda ws, t: import_args(npy(t, "a.npy", paper_layout(hot_disc_runs(2, 4, 6, 6))), t / "o.h5",
                                    units="degF,GPa,1"), says=("field 'T': unknown unit 'degF'",),
          intact=not_created("o.h5")),
    Entry("empty dataset (import of zero runs)",
          lambda ws, t: import_args(npy(t, "a.npy", np.zeros((0, 6, 6, 3, 4))), t / "o.h5"),
          says=("empty dataset",), intact=not_created("o.h5")),
    Entry("empty dataset (HDF5 with zero runs)", lambda ws, t: ["info", str(edited(ws, t, "x.h5", empty_frames))],
          says=("empty dataset: frames has shape (0, 6, 3, 8, 8)",)),
    Entry("every run failed in simulation", lambda ws, t: fit_args(
        ws, write_runs(t / "failed.h5", hot_disc_runs(2, 6, 8, 8), status=["failed", "failed"]), ws / "tiny.toml",
        t / "fit"), says=("no ok runs to train on",), intact=not_created("fit")),
    # --- micro and meso data together ----------------------------------------------------------------------
    Entry("mismatched grid spacing between micro and meso data", None, call=lambda ws, t: _compatible(
        ws, write_runs(t / "m.h5", hot_disc_runs(1, 5, 8, 12), dt=MESO_DT, dx=0.2)),
        says=("cell size dx = 0.2 um differs from the micro data's 0.1 um", "same grid spacing")),
    Entry("mismatched grid spacing between micro and meso data (adapt)", lambda ws, t: [
        "adapt", "--micro", str(ws / "fit"), "--data", str(write_runs(t / "m.h5", hot_disc_runs(2, 5, 8, 12),
                                                                         dt=MESO_DT, dx=0.2)),
        "--train-runs", "0,1", "--out", str(t / "adapted"), "--steps", "1"],
        says=("cell size dx = 0.2 um differs from the micro data's 0.1 um", "same grid spacing"),
        intact=not_created("adapted")),
    Entry("meso frame interval not a multiple of the micro one", None, call=lambda ws, t: _compatible(
        ws, write_runs(t / "m.h5", hot_disc_runs(1, 5, 8, 12), dt=0.075)),
        says=("1.5 micro frame intervals", "not a whole multiple")),
    Entry("meso frame interval vs the model's steps_per_frame (adapt)", lambda ws, t: [
        "adapt", "--micro", str(ws / "fit"), "--data", str(write_runs(t / "m.h5", hot_disc_runs(2, 5, 8, 12),
                                                                         dt=0.15)),
        "--train-runs", "0,1", "--out", str(t / "adapted"), "--steps", "1"],
        says=("steps_per_frame = 2",), intact=not_created("adapted")),
    Entry("meso grid not a multiple of the token size (adapt)", lambda ws, t: [
        "adapt", "--micro", str(ws / "fit"), "--data", str(write_runs(t / "m.h5", hot_disc_runs(2, 5, 8, 10),
                                                                         dt=MESO_DT)),
        "--train-runs", "0,1", "--out", str(t / "adapted"), "--steps", "1"],
        says=("grid 8x10 is not a multiple of the token size 4",), intact=not_created("adapted")),
    # --- runs ----------------------------------------------------------------------------------------------
    Entry("run index out of range (forecast)", lambda ws, t: forecast_args(ws, "--run", "99", out=t / "fc"),
          says=("meso.h5: run 99: run index out of range (the file has 3 runs)",), intact=not_created("fc")),
    Entry("run index out of range (adapt)", lambda ws, t: [
        "adapt", "--micro", str(ws / "fit"), "--data", str(ws / "meso.h5"), "--train-runs", "0,7",
        "--out", str(t / "adapted"), "--steps", "1"], says=("run 7: run index out of range",),
        intact=not_created("adapted")),
    Entry("forecast of a run that failed in simulation", lambda ws, t: forecast_args(ws, "--run", "2",
                                                                                     out=t / "fc"),
          says=("run 2:", "failed in simulation", "positivity lost"), intact=not_created("fc")),
    Entry("unreadable run list", lambda ws, t: forecast_args(ws, "--runs", "two", out=t / "fc"),
          says=("cannot read run list 'two'",)),
    # --- configs -------------------------------------------------------------------------------------------
    Entry("config with an unknown key", lambda ws, t: fit_args(ws, ws / "micro.h5", config(t, CONFIG.format(
        steps=2, every=2).replace("token_dim = 2", "token_dims = 2")), t / "fit"),
        says=("c.toml: unknown key 'token_dims' in [model]", "known keys: fields, token_size"),
        intact=not_created("fit")),
    Entry("config with a wrong type", lambda ws, t: fit_args(ws, ws / "micro.h5", config(t, CONFIG.format(
        steps=2, every=2).replace("token_size = 4", 'token_size = "4"')), t / "fit"),
        says=("token_size = '4' has the wrong type", "expected int"), intact=not_created("fit")),
    Entry("config with a wrong list item type", lambda ws, t: fit_args(ws, ws / "micro.h5", config(
        t, CONFIG.format(steps=2, every=2).replace('["T", "P", "mu"]', '["T", 1]')), t / "fit"),
        says=("must be a list of str",), intact=not_created("fit")),
    Entry("config with a table that is a value", lambda ws, t: fit_args(ws, ws / "micro.h5", config(
        t, 'fit = 3\n'), t / "fit"), says=("[fit] must be a table",), intact=not_created("fit")),
    Entry("config with an unknown adaptation mode in [adapt]", lambda ws, t: fit_args(ws, ws / "micro.h5", config(
        t, CONFIG.format(steps=2, every=2) + '\n[adapt]\ntheta = "thawed"\n'), t / "fit"),
        says=("c.toml: theta = 'thawed' in [adapt] must be one of frozen, prior",), intact=not_created("fit")),
    Entry("config that is not TOML", lambda ws, t: fit_args(ws, ws / "micro.h5", config(t, "steps: 10\n"),
                                                             t / "fit"), says=("not valid TOML",)),
    # --- checkpoints ----------------------------------------------------------------------------------------
    Entry("checkpoint from another model config (resume into an existing fit)", lambda ws, t: fit_args(
        ws, ws / "micro.h5", config(t, CONFIG.format(steps=4, every=2).replace("token_dim = 2", "token_dim = 3")),
        ws / "fit"), says=("another model config (differs in: token_dim)", "fresh output directory")),
    Entry("crafted pickle inside a torch checkpoint", lambda ws, t: forecast_args(
        ws, "--run", "0", model=crafted_torch_checkpoint(t), out=t / "fc"), says=("refused to load",),
        intact=no_pwned),
    Entry("crafted raw pickle as checkpoint", lambda ws, t: [
        "adapt", "--micro", str(crafted_raw_pickle(t)), "--data", str(ws / "meso.h5"), "--train-runs", "0",
        "--out", str(t / "adapted")], says=("not a torch zip archive",), intact=no_pwned),
    Entry("model folder without a checkpoint", lambda ws, t: forecast_args(ws, "--run", "0", model=t / "nofit",
                                                                           out=t / "fc"),
          says=("checkpoint not found",)),
    # --- outputs --------------------------------------------------------------------------------------------
    Entry("output path not writable (import)", lambda ws, t: import_args(
        npy(t, "a.npy", paper_layout(hot_disc_runs(2, 4, 6, 6))), a_file_in_the_way(t) / "o.h5"),
        says=("cannot write here", "choose a writable output path")),
    Entry("output folder not writable (fit)", lambda ws, t: fit_args(ws, ws / "micro.h5", ws / "tiny.toml",
                                                                      a_file_in_the_way(t) / "fit"),
          says=("cannot write here",), not_says=("SVI fit",)),  # refused before any training step
    # --- the command line itself ------------------------------------------------------------------------------
    Entry("unknown option", lambda ws, t: ["info", "--chek", str(ws / "micro.h5")], says=("No such option",),
          one_line=False),
]


def _compatible(ws, meso_path):
    with open_dataset(ws / "micro.h5") as micro, open_dataset(meso_path) as meso:
        check_compatible(micro, meso, steps_per_frame=2)


@pytest.mark.parametrize("entry", CATALOGUE, ids=[e.name for e in CATALOGUE])
def test_catalogue_entry(entry, ws, tmp_path, capsys):
    before = snapshot(ws)
    t = tmp_path
    if entry.call is not None:
        with pytest.raises(ProbtokError) as info:
            entry.call(ws, t)
        text = f"{info.value.one_line()}\n{info.value.hint}"
    else:
        capsys.readouterr()
        rc = main(entry.argv(ws, t))
        cap = capsys.readouterr()
        text = cap.err
        assert rc == entry.exit_code, cap.err + cap.out
        assert "Traceback" not in cap.err + cap.out
        assert not any(s in cap.err + cap.out for s in entry.not_says), cap.err + cap.out
        # progress bars (stderr, redrawn in place on a terminal) are not part of the message
        lines = [ln for ln in cap.err.splitlines() if ln.strip() and "\u2501" not in ln]
        if entry.one_line:
            assert lines[0].startswith("error: ") and len(lines) <= 2, cap.err
            assert len(lines) == 1 or lines[1].startswith("hint: "), cap.err
    for needle in entry.says:
        assert needle in text, f"{needle!r} not in {text!r}"
    if entry.intact is not None:
        entry.intact(ws, t)
    assert snapshot(ws) == before, "a file of the workspace changed"


def test_catalogue_covers_the_issue_list():
    names = " | ".join(e.name for e in CATALOGUE)
    for item in ("missing file", "not HDF5", "truncated HDF5", "another schema", "missing field", "extra",
                 "wrong dimension order", "NaN", "inf", "negative temperature", "negative density",
                 "mismatched grid", "not a multiple", "run index out of range", "empty dataset",
                 "unknown key", "wrong type", "another model config", "crafted pickle", "not writable"):
        assert item in names, item
    assert len(CATALOGUE) >= 20


def test_extra_field_the_model_does_not_use_is_ignored(ws, tmp_path, capsys):
    """Entry 'extra field (named)': a file with more fields than the config is fine; only the config's are used."""
    rng = np.random.default_rng(5)
    x = hot_disc_runs(3, 6, 8, 8)
    rho = rng.uniform(1.8, 1.9, x[:, :, :1].shape).astype(np.float32)
    data = write_runs(tmp_path / "rho.h5", np.concatenate([x[:, :, :1], rho, x[:, :, 1:]], axis=2),
                      fields=("T", "rho", "P", "mu"), units={**UNITS, "rho": "g/cm^3"})
    assert main(fit_args(ws, data, ws / "tiny.toml", tmp_path / "fit")) == 0, capsys.readouterr().err
    ck = torch.load(tmp_path / "fit" / "checkpoint.pt", weights_only=True)
    assert ck["meta"]["fields"] == ["T", "P", "mu"] and ck["normalisation"]["fields"] == ["T", "P", "mu"]


def test_debug_flag_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "info", str(tmp_path / "nowhere.h5")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "DataError" in err and "no such file" in err


def test_crafted_payloads_would_run_if_unpickled(tmp_path):
    """The pickle entries prove something: loaded unsafely, these very files run their payload."""
    raw = crafted_raw_pickle(tmp_path) / "checkpoint.pt"
    pickle.loads(raw.read_bytes())
    assert (tmp_path / "PWNED").exists()
    (tmp_path / "PWNED").unlink()
    sub = tmp_path / "t2"
    sub.mkdir()
    torch.load(crafted_torch_checkpoint(sub) / "checkpoint.pt", weights_only=False)
    assert (sub / "PWNED").exists()


def test_check_compatible_accepts_consistent_scales(ws):
    with open_dataset(ws / "micro.h5") as micro, open_dataset(ws / "meso.h5") as meso:
        assert check_compatible(micro, meso) == 2 and check_compatible(micro, meso, steps_per_frame=2) == 2
        assert check_compatible(micro, micro) == 1


# -- faults that need a real process ------------------------------------------------------------------------

def _python(code: str, *args, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


FSIZE_CLI = """\
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG like a full disk, not death by signal
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from probtok.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_disk_full_while_writing_a_dataset_keeps_the_old_file(tmp_path):
    out = tmp_path / "o.h5"
    write_runs(out, hot_disc_runs(2, 4, 6, 6))  # yesterday's good file
    old = out.read_bytes()
    src = npy(tmp_path, "a.npy", paper_layout(np.random.default_rng(0).uniform(400, 900, (6, 6, 3, 32, 32))
                                              .astype(np.float32)))
    p = _python(FSIZE_CLI, 40_000, *import_args(src, out))
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "Traceback" not in err
    assert "o.h5: run" in err and "write failed (File too large)" in err and "hint: free disk space" in err
    assert out.read_bytes() == old
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a.npy", "o.h5"]  # no temporary file left
    validate_file(out)


def test_disk_full_while_writing_a_checkpoint_keeps_the_old_one(ws, tmp_path):
    fitdir = tmp_path / "fit"
    fitdir.mkdir()
    for name in ("checkpoint.pt", "config.toml", "fit.json"):
        (fitdir / name).write_bytes((ws / "fit" / name).read_bytes())
    old = (fitdir / "checkpoint.pt").read_bytes()
    # continue the fit to 6 steps: the new checkpoint cannot be written past 2 kB
    p = _python(FSIZE_CLI, 2_000, *fit_args(ws, ws / "micro.h5", ws / "tiny.toml", fitdir), "--steps", "6")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "Traceback" not in err and "checkpoint.pt: write failed" in err, err
    assert (fitdir / "checkpoint.pt").read_bytes() == old
    assert not [q for q in fitdir.iterdir() if q.name.startswith(".")]


FSIZE_FORECAST = """\
import resource, signal, sys
import numpy as np
from probtok.errors import ProbtokError
from probtok.forecast import summarize_forecast, write_forecast
draws = np.random.default_rng(0).uniform(300, 2000, (16, 6, 2, 32, 32)).astype(np.float32)
ds = summarize_forecast(draws, ["T", "P"], ["K", "GPa"], np.arange(6) * 0.1, 0.1, 875.0, run_id=0)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (30000, 30000))
try:
    write_forecast(ds, sys.argv[1])
except ProbtokError as exc:
    print(exc.one_line())
    sys.exit(2)
"""


def test_disk_full_while_writing_a_forecast_keeps_the_old_one(tmp_path):
    from probtok.forecast import read_forecast, summarize_forecast, write_forecast

    draws = np.random.default_rng(1).uniform(300, 2000, (4, 3, 2, 4, 4)).astype(np.float32)
    path = write_forecast(summarize_forecast(draws, ["T", "P"], ["K", "GPa"], np.arange(3) * 0.1, 0.1, 875.0,
                                             run_id=0), tmp_path / "run_0000.nc")
    old = path.read_bytes()
    p = _python(FSIZE_FORECAST, path)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, err  # before: a segfault (139) inside libhdf5
    assert "run_0000.nc: cannot write the forecast (File too large)" in out, out + err
    assert path.read_bytes() == old and [q.name for q in tmp_path.iterdir()] == ["run_0000.nc"]
    assert read_forecast(path).attrs["n_draws"] == 4


# -- campaigns: a fake simulator (tiny grid, analytic), kill -9 and a dying worker --------------------------

SCALE = ScaleSpec("micro", (8, 8), dx_um=DX, dt_frame_ns=MICRO_DT, n_frames=4)
_CALLS: list = []
_LOCK = threading.Lock()


def fake_sample(setup, seed, **_):
    rng = np.random.default_rng(seed)
    return Case(setup, seed, SCALE, float(rng.uniform(0.5, 2.0)), np.ones(SCALE.shape),
                params={"pore_radius_cells": float(rng.uniform(1.5, 3.0))}, geometry=[{"kind": "circle"}])


def fake_simulate(case: Case) -> SimResult:
    """A hot disc moving with the shock (T = 600 + 1000 up K in the disc, 400 K elsewhere)."""
    H, W = case.scale.shape
    y, x = np.mgrid[0:H, 0:W] + 0.5
    t = np.arange(case.scale.n_frames) * case.scale.dt_frame_ns
    disc = ((x - 2.0 - case.up_kms * t[:, None, None] * 20.0) ** 2 + (y - H / 2) ** 2
            < case.params["pore_radius_cells"] ** 2)
    T = np.where(disc, 600.0 + 1000.0 * case.up_kms, 400.0)
    fields = {"T": T, "P": np.full_like(T, 10 * case.up_kms), "mu": np.where(disc, 0.5, 1.0),
              "u": np.full_like(T, case.up_kms), "v": np.zeros_like(T), "lam": np.zeros_like(T)}
    return SimResult(fields, t, ok=True, n_steps=3)


def counted_simulate(case):
    with _LOCK:
        _CALLS.append(case.seed)
    return fake_simulate(case)


def slow_simulate(case):
    time.sleep(0.3)
    return fake_simulate(case)


def die_once_simulate(case):
    """Kills its worker process the first time it sees run 0 (a node lost mid-run); fine afterwards."""
    marker = Path(os.environ["PROBTOK_CATALOGUE_DIED"])
    if case.seed == cp.run_seed(0, 0) and not marker.exists():
        marker.write_text("died")
        os._exit(1)
    return fake_simulate(case)


def campaign_main(out: str, n_runs: str) -> None:
    """Subprocess entry point: a campaign on an in-process Dask cluster, 0.3 s per run."""
    from distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
        cp.run_campaign("micro", int(n_runs), out, seed=0, scheduler=client, simulate_fn=slow_simulate,
                        sample_fn=fake_sample, progress=False)


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    c = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0")
    yield c
    c.close()


def _campaign(out, client, simulate_fn=fake_simulate, n_runs=8):
    return cp.run_campaign("micro", n_runs, out, seed=0, scheduler=client, simulate_fn=simulate_fn,
                           sample_fn=fake_sample, progress=False)


def _same_runs(a_path, b_path):
    with open_dataset(a_path) as a, open_dataset(b_path) as b:
        assert a.n_runs == b.n_runs and list(a.status) == list(b.status)
        for i in range(a.n_runs):
            np.testing.assert_array_equal(a.frames(i), b.frames(i))
        for k in a.params:
            if k != "wall_s":
                np.testing.assert_array_equal(a.params[k], b.params[k])


def _wait_for(predicate, proc, timeout=90.0):
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended early: {proc.communicate()[1][-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the process")
        time.sleep(0.05)


def test_kill9_during_a_campaign_then_resume(tmp_path, client):
    out = tmp_path / "c.h5"
    proc = _python("import sys, test_catalogue as c; c.campaign_main(*sys.argv[1:])", out, 8)
    parts = lambda: sorted(cp.parts_dir(out).glob("run_*.h5"))  # noqa: E731
    _wait_for(lambda: len(parts()) >= 3, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    done = [int(p.stem.split("_")[1]) for p in parts()]
    assert not out.exists() and 3 <= len(done) < 8  # killed mid-campaign, finished runs on disk

    _CALLS.clear()
    rep = _campaign(out, client, counted_simulate)
    assert rep.complete and rep.n_skipped == len(done) and rep.n_simulated == 8 - len(done)
    assert sorted(_CALLS) == sorted(cp.run_seed(0, i) for i in range(8) if i not in done)  # none re-simulated
    _campaign(tmp_path / "ref.h5", client)
    _same_runs(out, tmp_path / "ref.h5")


def test_dask_worker_lost_during_a_campaign(tmp_path, client, monkeypatch, capsys):
    import cloudpickle
    import dask

    out = tmp_path / "c.h5"
    monkeypatch.setenv("PROBTOK_CATALOGUE_DIED", str(tmp_path / "died"))
    real = cp.run_campaign

    def forcing(**forced):  # the CLI's own keywords are kept unless forced here
        return lambda *a, **k: real(*a, **{**k, **forced})

    monkeypatch.setattr(cp, "run_campaign", forcing(simulate_fn=die_once_simulate, sample_fn=fake_sample,
                                                    progress=False))
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # worker processes cannot import this module
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            rc = main(["simulate", "--setup", "micro", "--runs", "4", "--out", str(out), "--workers", "1"])
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    cap = capsys.readouterr()
    assert rc == 1 and (tmp_path / "died").exists(), cap.err
    assert "lost with their worker" in cap.err and "re-run the same command" in cap.err
    assert not out.exists()  # never a half-assembled file
    # the same command again (here on the in-process cluster) finishes only what was lost
    _CALLS.clear()
    monkeypatch.setattr(cp, "run_campaign", forcing(simulate_fn=counted_simulate, sample_fn=fake_sample,
                                                    progress=False, scheduler=client))
    assert main(["simulate", "--setup", "micro", "--runs", "4", "--out", str(out)]) == 0
    lost = {int(s) for s in cap.err[cap.err.index("(") + 1:].split(")")[0].strip("[]").split(",")}
    assert 0 in lost and sorted(_CALLS) == sorted(cp.run_seed(0, i) for i in lost)
    _campaign(tmp_path / "ref.h5", client, n_runs=4)
    _same_runs(out, tmp_path / "ref.h5")


FSIZE_CAMPAIGN = """\
import resource, signal, sys
import test_catalogue as c
from distributed import Client
from probtok.errors import ProbtokError
from probtok.sim import campaign as cp
with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))  # a part file needs more
    try:
        cp.run_campaign("micro", 4, sys.argv[1], seed=0, scheduler=client, simulate_fn=c.fake_simulate,
                        sample_fn=c.fake_sample, progress=False)
    except ProbtokError as exc:
        print(exc.one_line())
        sys.exit(2)
"""


def test_disk_full_during_a_campaign_then_resume(tmp_path, client):
    out = tmp_path / "c.h5"
    p = _python(FSIZE_CAMPAIGN, out)
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == 2, err  # before: a segfault inside libhdf5, no message
    assert "run_00000.h5: cannot store run 0 (File too large); finished runs are kept" in stdout, stdout + err
    assert not out.exists() and not list(cp.parts_dir(out).glob("*.h5*"))  # no partial part file
    rep = _campaign(out, client, n_runs=4)
    assert rep.complete and rep.n_simulated == 4
    _campaign(tmp_path / "ref.h5", client, n_runs=4)
    _same_runs(out, tmp_path / "ref.h5")


SLOW_FIT_CLI = """\
import sys, time
import pyro.infer
step = pyro.infer.SVI.step
pyro.infer.SVI.step = lambda self, *a, **k: (time.sleep(0.2), step(self, *a, **k))[1]  # time to be killed
import torch
torch.set_num_threads(1)
from probtok.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill9_during_a_fit_then_resume_gives_the_uninterrupted_result(ws, tmp_path, capsys):
    cfg = config(tmp_path, CONFIG.format(steps=12, every=3))
    killed, full = tmp_path / "killed", tmp_path / "full"
    proc = _python(SLOW_FIT_CLI, *fit_args(ws, ws / "micro.h5", cfg, killed))
    _wait_for(lambda: (killed / "checkpoint.pt").exists(), proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    from probtok.checkpoint import load_checkpoint

    at_kill = load_checkpoint(killed)["step"]
    assert 3 <= at_kill < 12  # killed mid-fit

    assert main(fit_args(ws, ws / "micro.h5", cfg, killed)) == 0
    assert f"resumed from {at_kill}" in capsys.readouterr().out
    assert main(fit_args(ws, ws / "micro.h5", cfg, full)) == 0
    a = torch.load(killed / "checkpoint.pt", weights_only=True)
    b = torch.load(full / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 12
    assert torch.equal(a["losses"], b["losses"])
    for key in ("model_state", "guide_state"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), k


# -- writes are atomic: a static check over the library ------------------------------------------------------

_WRITERS = {"to_csv", "savefig", "to_netcdf", "write_text", "write_bytes", "save", "savez", "savez_compressed",
            "dump"}


def _writes_in_place(call, source: str) -> bool:
    """True when ``call`` writes a file whose path is not the temporary name of an atomic write."""
    import ast

    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name not in _WRITERS | {"open", "File"}:
        return False
    text = ast.get_source_segment(source, call) or ""
    if name == "open":
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        writes = isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")
    elif name == "File":  # h5py.File(path, mode)
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        in_memory = any(k.arg == "backing_store" for k in call.keywords)
        writes = isinstance(mode, ast.Constant) and str(mode.value) != "r" and not in_memory
    elif name in _WRITERS:
        writes = bool(call.args) or any(k.arg in ("path", "fname", "file") for k in call.keywords)
        if name == "to_netcdf" and not call.args:
            writes = False  # in memory: returns the bytes
        if name == "save" and not text.startswith(("torch.save", "np.save", "numpy.save")):
            writes = False  # a method of probtok's own (e.g. ClosureFit.save), checked where it writes
        if name == "dump" and "json" in text:
            writes = "tmp" not in text and len(call.args) > 1
    else:
        return False
    return writes and "tmp" not in text


def test_every_file_probtok_writes_goes_through_a_temporary_name():
    """Datasets, parts, checkpoints, forecasts, reports and plots: written to ``tmp`` (probtok.atomic), renamed."""
    import ast

    offenders = []
    for path in sorted((TESTS.parent / "probtok").rglob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and _writes_in_place(node, source):
                offenders.append(f"{path.relative_to(TESTS.parent)}:{node.lineno}: {ast.get_source_segment(source, node)}")
    assert not offenders, "writes that are not atomic:\n" + "\n".join(offenders)
    # the check itself sees a plain write
    bad = "f = h5py.File(out, 'w')\nfig.savefig(out_png)\nopen(p, 'w')\ntorch.save(ck, path)\nok = open(p)\n"
    assert sum(_writes_in_place(n, bad) for n in ast.walk(ast.parse(bad)) if isinstance(n, ast.Call)) == 4
