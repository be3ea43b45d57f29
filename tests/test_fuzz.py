"""Fuzzing of the two readers users point at their own files: the HDF5 run reader and the config loader.

Property (issue 7): any input either loads into a valid object or raises probtok's
own error type (:class:`probtok.errors.ProbtokError`), never anything else.
Inputs: random bytes; valid run files with bytes overwritten or cut off; valid run
files whose attributes and datasets are replaced by random values, types and shapes;
random TOML documents over the config's own keys (and unknown ones); random text.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probtok.data import open_dataset, write_dataset
from probtok.data.summary import render, summarize
from probtok.data.schema import DIMS, REQUIRED_ATTRS, REQUIRED_DATASETS
from probtok.errors import ProbtokError
from probtok.model_spec import ModelConfig, ModelSpec, load_config

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

FIELDS = ("T", "P", "mu")
UNITS = {"T": "K", "P": "GPa", "mu": "1"}


def _template_bytes() -> bytes:
    """A small valid run file (3 runs, one failed; 4 frames of 3 fields on 6 x 8 cells)."""
    rng = np.random.default_rng(0)
    x = np.empty((3, 4, 3, 6, 8), np.float32)
    x[:, :, 0] = rng.uniform(300, 2000, (3, 4, 6, 8))
    x[:, :, 1] = rng.uniform(0, 30, (3, 4, 6, 8))
    x[:, :, 2] = rng.uniform(0, 1, (3, 4, 6, 8))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.h5"
        write_dataset(p, x, np.arange(4) * 0.05, fields=FIELDS, units=UNITS, dx_um=0.1, dt_frame_ns=0.05,
                      setup="micro", params={"up_kms": [0.5, 1.0, 1.5]}, status=["ok", "failed", "ok"],
                      failure=["", "positivity lost", ""], geometry=[[{"kind": "circle"}]] * 3)
        return p.read_bytes()


TEMPLATE = _template_bytes()


def _chunk_ranges(blob: bytes) -> list[tuple[int, int]]:
    """(offset, size) in the file of every stored chunk of /frames (the compressed field values)."""
    import io

    with h5py.File(io.BytesIO(blob), "r") as f:
        d = f["frames"]
        infos = [d.id.get_chunk_info(i) for i in range(d.id.get_num_chunks())]
    return [(int(c.byte_offset), int(c.size)) for c in infos]


CHUNKS = _chunk_ranges(TEMPLATE)


def exercise_reader(path) -> str:
    """Open ``path`` and read everything a fit reads; return "loaded" or "refused".

    A loaded file must be a valid object: consistent shape, finite frames of the
    stated shape, non-negative temperature, normalisation statistics per field.
    Any exception other than a ProbtokError propagates (and fails the property).
    """
    try:
        with open_dataset(path) as ds:
            n_runs, n_frames, n_fields, H, W = ds.shape
            assert n_runs >= 1 and n_frames >= 1 and n_fields == len(ds.fields) >= 1 and H >= 1 and W >= 1
            assert ds.time_ns.shape == (n_frames,) and ds.dx_um > 0 and ds.dt_frame_ns > 0
            for r in ds.ok_runs:
                x = ds.frames(int(r))
                assert x.shape == (n_frames, n_fields, H, W) and np.isfinite(x).all()
                if "T" in ds.fields:
                    assert x[:, ds.fields.index("T")].min() >= 0
            stats = ds.normalisation()
            assert all(np.shape(v) == (n_fields,) for v in stats.values())
            hs = ds.hotspots()
            assert hs is None or all(v.shape == (n_runs, n_frames) for v in hs.values())
            for r in range(n_runs):
                ds.geometry(r)
        render(summarize(path, check=True))  # `probtok info --check`
        return "loaded"
    except ProbtokError as exc:
        assert str(exc) and exc.one_line()
        return "refused"


@pytest.fixture
def h5file(tmp_path):
    return tmp_path / "fuzz.h5"


def test_template_itself_loads(h5file):
    h5file.write_bytes(TEMPLATE)
    assert exercise_reader(h5file) == "loaded"


@FUZZ
@given(data=st.binary(min_size=0, max_size=4096))
def test_random_bytes_are_refused(h5file, data):
    h5file.write_bytes(data)
    assert exercise_reader(h5file) == "refused"


@FUZZ
@given(cut=st.integers(0, len(TEMPLATE) - 1))
def test_truncated_run_file_is_refused(h5file, cut):
    h5file.write_bytes(TEMPLATE[:cut])
    assert exercise_reader(h5file) == "refused"


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(range(len(CHUNKS))), st.floats(0, 1), st.binary(min_size=1,
                                                                                            max_size=16)),
                      min_size=1, max_size=4))
def test_corrupted_frame_chunks(h5file, edits):
    # Bytes overwritten inside the stored (compressed) frames. Corrupt HDF5 *metadata* is not fuzzed
    # here: libhdf5 itself can crash (segfault) on it, below anything Python can catch.
    b = bytearray(TEMPLATE)
    for k, where, new in edits:
        offset, size = CHUNKS[k]
        start = offset + int(where * max(size - len(new), 0))
        b[start: start + min(len(new), size)] = new[:size]
    h5file.write_bytes(bytes(b))
    exercise_reader(h5file)


# -- structural mutations: random attribute values and dataset shapes/dtypes -------------------------

ATTR_VALUES = st.one_of(
    st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["probtok-runs", "micro", '{"T": "K"}', '{"T": "K", "P": "GPa", "mu": "1"}', "[]", "{",
                     '["T"]', "null"]),
    st.lists(st.text(max_size=4), max_size=4),
    st.lists(st.integers(-3, 3), min_size=1, max_size=4),
    st.just(b"\xff\xfe binary"),
)
DATASET_SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple)
DATASET_DTYPES = st.sampled_from(["f4", "f8", "i4", "u1", "S3", "bool"])


@st.composite
def mutation(draw):
    kind = draw(st.sampled_from(["attr", "del_attr", "dataset", "del_dataset", "group", "frames_value", "label"]))
    if kind in ("attr", "del_attr"):
        return kind, draw(st.sampled_from(REQUIRED_ATTRS)), draw(ATTR_VALUES)
    if kind in ("dataset", "del_dataset", "group"):
        name = draw(st.sampled_from([*REQUIRED_DATASETS, "normalisation", "params/up_kms", "normalisation/min",
                                     "hotspots", "hotspots/T_hs_K", "params"]))
        return kind, name, (draw(DATASET_SHAPES), draw(DATASET_DTYPES))
    if kind == "label":
        return kind, draw(st.integers(0, 4)), draw(st.sampled_from([*DIMS, "time", ""]))
    return kind, draw(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 2))), draw(
        st.sampled_from([np.nan, np.inf, -np.inf, -1.0, -300.0, 1e30]))


def _apply(f: h5py.File, m) -> None:
    kind, name, value = m
    if kind == "attr":
        f.attrs[name] = value
    elif kind == "del_attr":
        if name in f.attrs:
            del f.attrs[name]
    elif kind in ("dataset", "del_dataset", "group"):
        if name in f:
            del f[name]
        if kind == "dataset":
            shape, dtype = value
            f.create_dataset(name, data=np.zeros(shape, dtype=dtype))
        elif kind == "group":
            f.create_group(name)
    elif kind == "label":
        if "frames" in f and isinstance(f["frames"], h5py.Dataset) and name < f["frames"].ndim:
            f["frames"].dims[name].label = value
    elif kind == "frames_value":
        d = f.get("frames")
        if isinstance(d, h5py.Dataset) and d.ndim == 5 and d.dtype.kind == "f":
            r, t, c = name
            if r < d.shape[0] and t < d.shape[1] and c < d.shape[2]:
                block = d[r, t]
                block[c, 0, 0] = value
                d[r, t] = block


@FUZZ
@given(mutations=st.lists(mutation(), min_size=1, max_size=4))
def test_run_file_with_random_attributes_and_shapes(h5file, mutations):
    h5file.write_bytes(TEMPLATE)
    with h5py.File(h5file, "r+") as f:
        for m in mutations:
            try:
                _apply(f, m)
            except (ValueError, TypeError, KeyError):
                pass  # h5py cannot write this mutation (e.g. a group below a dataset): nothing to read
    exercise_reader(h5file)


# -- the config loader ------------------------------------------------------------------------------

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + "}"
    raise TypeError(type(v))


def to_toml(doc: dict) -> str:
    """A small TOML writer: top-level scalars first, then one [table] per dict."""
    lines = [f'"{k}" = {_toml_value(v)}' for k, v in doc.items() if not isinstance(v, dict)]
    for table, values in doc.items():
        if isinstance(values, dict):
            lines.append(f'["{table}"]')
            lines += [f'"{k}" = {_toml_value(v)}' for k, v in values.items()]
    return "\n".join(lines) + "\n"


KNOWN = {
    "model": ["fields", "token_size", "token_dim", "mixture_components", "encoder_width", "decoder_width",
              "drift_width", "drift", "decoder", "encoder_conditional"],
    "priors": ["sigma_x_median", "sigma_x_log_sd", "sigma_z_init"],
    "meso": ["task_dim", "coupling_width", "coupling_dilations", "phi_prior_scale", "steps_per_frame"],
    "fit": ["steps", "batch_runs", "window_frames", "learning_rate", "final_lr_factor", "clip_norm", "elbo",
            "num_particles", "rollout_weight", "rollout_horizon_start", "rollout_horizon_end",
            "rollout_ramp_fraction", "checkpoint_every", "seed"],
    "card": ["name", "summary"],
}
SCALARS = st.one_of(st.booleans(), st.integers(-3, 40), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["T", "P", "mu", "conv", "linear", "pixel_shuffle", "Trace_ELBO", ""]),
                    st.text(max_size=6))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4), st.dictionaries(st.text(max_size=3), SCALARS,
                                                                           max_size=2))


@st.composite
def config_doc(draw):
    doc = {}
    for table in draw(st.lists(st.sampled_from([*KNOWN, "extra"]), unique=True, max_size=5)):
        if draw(st.integers(0, 9)) == 0:
            doc[table] = draw(SCALARS)  # a table name bound to a plain value
            continue
        keys = draw(st.lists(st.sampled_from(KNOWN.get(table, []) + ["unknown_key"]), unique=True, max_size=5))
        doc[table] = {k: draw(VALUES) for k in keys}
    return doc


def exercise_config(path) -> str:
    try:
        cfg = load_config(path)
    except ProbtokError as exc:
        assert exc.one_line()
        return "refused"
    assert isinstance(cfg, ModelConfig) and isinstance(cfg.spec, ModelSpec)
    spec = cfg.spec
    assert spec.fields and all(isinstance(f, str) and f for f in spec.fields)
    assert all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in spec.coupling_dilations)
    for value in (spec.sigma_x_median, spec.sigma_x_log_sd, spec.sigma_z_init, spec.phi_prior_scale,
                  cfg.fit.learning_rate, cfg.fit.clip_norm, cfg.fit.rollout_weight):
        assert math.isfinite(value)
    assert isinstance(cfg.card, dict)
    return "loaded"


@pytest.fixture
def tomlfile(tmp_path):
    return tmp_path / "fuzz.toml"


def test_shipped_configs_load():
    root = Path(__file__).resolve().parents[1] / "models"
    assert [exercise_config(p) for p in sorted(root.glob("*.toml"))] == ["loaded"] * len(list(root.glob("*.toml")))


@FUZZ
@given(doc=config_doc())
def test_random_config_documents(tomlfile, doc):
    tomlfile.write_text(to_toml(doc))
    exercise_config(tomlfile)


@FUZZ
@given(text=st.text(max_size=200), raw=st.binary(max_size=64))
def test_random_config_text_and_bytes(tomlfile, text, raw):
    tomlfile.write_text(text)
    exercise_config(tomlfile)
    tomlfile.write_bytes(raw)
    exercise_config(tomlfile)


def test_config_path_that_is_a_directory(tmp_path):
    assert exercise_config(tmp_path) == "refused"


if __name__ == "__main__":  # pragma: no cover - debugging aid
    sys.exit(pytest.main([__file__, "-x", "-q"]))


# -- the checkpoint loader (files users download) -------------------------------------------------------------

@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    """Bytes of a real (tiny) checkpoint."""
    import torch

    from probtok.fit import fit
    from probtok.model_spec import FitConfig

    spec = ModelSpec(fields=("a",), token_size=2, token_dim=1, mixture_components=1, encoder_width=2,
                     decoder_width=2, drift_width=2)
    d = tmp_path_factory.mktemp("ckpt")
    fit(spec, torch.randn(2, 3, 1, 4, 4), FitConfig(steps=1, batch_runs=2, rollout_horizon_end=1), out_dir=d,
        progress=False)
    return (d / "checkpoint.pt").read_bytes()


def exercise_checkpoint(path) -> str:
    from probtok.checkpoint import load_fitted

    try:
        model, guide, ckpt = load_fitted(path)
    except ProbtokError as exc:
        assert exc.one_line()
        return "refused"
    assert isinstance(ckpt["spec_obj"], ModelSpec) and ckpt["level"] in ("micro", "meso")
    return "loaded"


SAFE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                              st.text(max_size=5)),
                    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=4), kids,
                                                                                       max_size=3)),
                    max_leaves=8)


@FUZZ
@given(edits=st.dictionaries(st.sampled_from(["format", "version", "spec", "spec_hash", "level", "meta",
                                              "model_state", "guide_state", "step"]), SAFE, max_size=4),
       drop=st.lists(st.sampled_from(["spec", "spec_hash", "level", "meta", "model_state", "guide_state"]),
                     max_size=2))
def test_checkpoint_with_random_contents(tmp_path_factory, real_checkpoint, edits, drop):
    import io

    import torch

    ckpt = torch.load(io.BytesIO(real_checkpoint), weights_only=True)
    ckpt.update(edits)
    for key in drop:
        ckpt.pop(key, None)
    path = tmp_path_factory.mktemp("c") / "checkpoint.pt"
    torch.save(ckpt, path)
    exercise_checkpoint(path)


@FUZZ
@given(offset=st.floats(0, 1), new=st.binary(min_size=1, max_size=32), cut=st.one_of(st.none(), st.floats(0, 1)))
def test_corrupted_checkpoint_bytes(tmp_path_factory, real_checkpoint, offset, new, cut):
    b = bytearray(real_checkpoint)
    at = int(offset * (len(b) - len(new)))
    b[at: at + len(new)] = new
    if cut is not None:
        b = b[: int(cut * len(b))]
    path = tmp_path_factory.mktemp("c") / "checkpoint.pt"
    path.write_bytes(bytes(b))
    exercise_checkpoint(path)


# -- the forecast reader (calibrate, plot-forecast and closure read these) -------------------------------------

def _forecast_bytes() -> bytes:
    from probtok.forecast import summarize_forecast, write_forecast

    draws = np.random.default_rng(0).uniform(300, 2000, (4, 3, 2, 4, 4)).astype(np.float32)
    ds = summarize_forecast(draws, ["T", "P"], ["K", "GPa"], np.arange(3) * 0.1, 0.1, 875.0, run_id=0,
                            truth=draws[0])
    with tempfile.TemporaryDirectory() as d:
        return write_forecast(ds, Path(d) / "f.nc").read_bytes()


FORECAST = _forecast_bytes()


def exercise_forecast(path) -> str:
    from probtok.forecast import read_forecast

    try:
        ds = read_forecast(path)
    except ProbtokError as exc:
        assert exc.one_line()
        return "refused"
    assert ds.attrs["format"] == "probtok-forecast"
    return "loaded"


@settings(FUZZ, max_examples=30)  # ~0.1 s per xarray open
@given(cut=st.one_of(st.none(), st.integers(0, len(FORECAST) - 1)),
       attrs=st.dictionaries(st.sampled_from(["format", "format_version", "has_truth", "run_id"]), ATTR_VALUES,
                             max_size=3),
       drop=st.lists(st.sampled_from(["T_hs_draws", "T_hs_truth", "field_mean", "A_hs_quantiles"]), max_size=2))
def test_forecast_file_with_random_attributes_or_truncated(tmp_path_factory, cut, attrs, drop):
    path = tmp_path_factory.mktemp("f") / "f.nc"
    path.write_bytes(FORECAST)
    with h5py.File(path, "r+") as f:
        for k, v in attrs.items():
            try:
                f.attrs[k] = v
            except (ValueError, TypeError):
                pass  # not storable as an attribute
        for name in drop:
            if name in f:
                del f[name]
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    exercise_forecast(path)
