"""Resumable, crash-safe simulation campaigns through Dask.

A campaign simulates runs ``0 .. n_runs-1`` of one set-up (``micro``/``meso``) or
preset. Run ``i`` gets the seed :func:`run_seed` ``(seed, i)``, so results do not
depend on scheduling, worker count or how often the campaign was resumed.

Crash safety: every finished run (ok or failed) is written atomically by the
client to its own part file ``<out>.parts/run_00012.h5``; re-running the same
campaign skips runs whose part exists. When all parts exist they are assembled
into ``out`` (atomic: the final file never exists half-written) and the parts
are removed. A run whose sampler or solver raises, or whose result is not ok or
not finite, is recorded as failed with its reason, never dropped. A lost
worker only costs its in-flight runs: Dask re-schedules them, and runs that
still could not finish are reported as ``lost`` and re-run on the next resume.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from probtok.atomic import atomic_path, atomic_write_text
from probtok.data.hdf5 import json_default
from probtok.errors import ConfigError, DataError, ProbtokError, SimulationError

PART_FORMAT = "probtok-run-part"
MANIFEST = "campaign.json"


@dataclass
class CampaignReport:
    """What a campaign did. ``failures`` maps run index -> reason; ``lost`` lists runs
    whose worker died (re-run them by running the same campaign again)."""

    out: Path
    setup: str
    preset: str | None
    n_runs: int
    n_ok: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    n_simulated: int = 0
    failures: dict = field(default_factory=dict)
    lost: list = field(default_factory=list)
    complete: bool = False
    hotspot_threshold_K: float | None = None
    wall_s: float = 0.0
    # a finished file reused whose threshold is below the rule's (an older version's): what to do about it
    threshold_note: str | None = None


def run_seed(seed: int, run: int) -> int:
    """Seed of run ``run`` of a campaign with seed ``seed`` (independent of everything else)."""
    return int(np.random.SeedSequence([int(seed), int(run)]).generate_state(1)[0])


def parts_dir(out) -> Path:
    """Folder of the per-run part files of campaign output ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def part_path(out, run: int) -> Path:
    return parts_dir(out) / f"run_{run:05d}.h5"


# -- the worker side ------------------------------------------------------------------------

def _field_order(names) -> list[str]:
    from probtok.sim.case import FIELDS

    return [f for f in FIELDS if f in names] + sorted(f for f in names if f not in FIELDS)


def simulate_one(setup: str, run: int, seed: int, sampler_kwargs: dict, simulate_fn, sample_fn) -> dict:
    """Sample and simulate one run; never raises for a failing run (returns ok=False and why).

    Returns a payload dict: run, ok, failure, params, geometry, fields, units,
    frames (frame, field, y, x) float32 or None, time_ns, dx_um, dt_frame_ns.
    """
    from probtok.data.validate import check_values
    from probtok.hotspots import bulk_shocked_temperature
    from probtok.sim.case import UNITS

    t0 = time.perf_counter()
    payload = _failed_payload(run, seed, "")
    try:
        case = sample_fn(setup, seed, **sampler_kwargs)
        payload["params"].update({"up_kms": float(case.up_kms), **case.params})
        payload["geometry"] = case.geometry
        payload["dx_um"], payload["dt_frame_ns"] = case.scale.dx_um, case.scale.dt_frame_ns
        result = simulate_fn(case)
    except Exception as exc:  # noqa: BLE001 - any failure of one run is recorded, not raised
        payload["failure"] = f"{type(exc).__name__}: {exc}"
        payload["params"]["wall_s"] = time.perf_counter() - t0
        return payload
    payload["params"].update({"n_steps": int(result.n_steps), "wall_s": time.perf_counter() - t0})
    if not result.ok:
        payload["failure"] = result.failure or "simulation reported failure without a reason"
        return payload
    try:
        names = _field_order(result.fields)
        frames = np.stack([np.asarray(result.fields[k], dtype=np.float32) for k in names], axis=1)
        time_ns = np.asarray(result.time_ns, dtype=np.float64)
        if frames.ndim != 4 or frames.shape[0] != time_ns.size:
            raise DataError(f"fields have shape {frames.shape} (frame, field, y, x) for {time_ns.size} frame times")
        check_values(frames, names)
    except (ProbtokError, ValueError) as exc:
        payload["failure"] = f"invalid result: {exc}"
        return payload
    if {"T", "mu", "u"} <= set(names):
        last = frames[-1]
        payload["params"]["bulk_T_K"] = bulk_shocked_temperature(
            last[names.index("T")], last[names.index("mu")], last[names.index("u")], case.up_kms,
            lam=last[names.index("lam")] if "lam" in names else None)
    if result.inflow_T_K is not None:
        payload["params"]["inflow_T_K"] = float(result.inflow_T_K)
    payload.update(ok=True, fields=names, units={k: UNITS.get(k, "1") for k in names}, frames=frames,
                   time_ns=time_ns)
    return payload


# -- part files ---------------------------------------------------------------------------------

def write_part(path, payload: dict) -> None:
    """Write one run's payload atomically (internal format, HDF5, no pickle)."""
    with atomic_path(path, suffix=".h5.tmp") as tmp:
        try:
            _write_part_file(tmp, payload)
        except OSError as exc:  # disk full: the run is simulated again on resume
            why = os.strerror(exc.errno) if exc.errno else " ".join(str(exc).split())[:160]
            raise SimulationError(f"cannot store run {payload['run']} ({why}); finished runs are kept",
                                  file=path, hint="free disk space and run the same command again") from exc


def _write_part_file(tmp, payload: dict) -> None:
    import h5py

    # built in memory (one run), written with plain file I/O: a full disk is then an ordinary
    # OSError; when libhdf5's own writes failed (EFBIG/ENOSPC) it crashed the process
    with h5py.File(f"part-{payload['run']}.h5", "w", driver="core", backing_store=False) as f:
        _fill_part(f, payload)
        f.flush()
        image = f.id.get_file_image()
    with open(tmp, "wb") as fh:
        fh.write(image)


def _fill_part(f, payload: dict) -> None:
    f.attrs["format"] = PART_FORMAT
    for key in ("run", "ok", "failure"):
        f.attrs[key] = payload[key]
    for key in ("params", "geometry", "fields", "units"):
        f.attrs[key] = json.dumps(payload[key], default=json_default)
    if payload["dx_um"] is not None:
        f.attrs["dx_um"], f.attrs["dt_frame_ns"] = payload["dx_um"], payload["dt_frame_ns"]
    if payload["ok"]:
        from probtok.data.hdf5 import frame_filters

        f.create_dataset("time_ns", data=payload["time_ns"])
        # the final file's filters and chunk layout: assembly copies chunks without recompressing
        f.create_dataset("frames", data=payload["frames"], dtype="float32",
                         chunks=(1, *payload["frames"].shape[1:]), **frame_filters("gzip"))


def read_part(path, frames: bool = True) -> dict | None:
    """Read a part (None if it is unreadable: it is then simulated again).

    With ``frames``, also the decoded frames and ``raw_chunks``: the compressed chunk
    of each frame as ``(filter_mask, bytes)``, or None when the part's filters differ
    from the final file's.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != PART_FORMAT:
                return None
            p = {k: f.attrs[k] for k in ("run", "failure")}
            p["run"], p["ok"] = int(p["run"]), bool(f.attrs["ok"])
            for key in ("params", "geometry", "fields", "units"):
                p[key] = json.loads(f.attrs[key])
            p["dx_um"], p["dt_frame_ns"] = f.attrs.get("dx_um"), f.attrs.get("dt_frame_ns")
            p["time_ns"] = f["time_ns"][()] if p["ok"] else None
            p["frame_shape"] = f["frames"].shape if p["ok"] else None
            p["frames"] = f["frames"][()] if (p["ok"] and frames) else None
            p["raw_chunks"] = _raw_chunks(f["frames"]) if (p["ok"] and frames) else None
            return p
    except (OSError, KeyError, ValueError):
        return None


def _raw_chunks(d) -> list | None:
    from probtok.data.hdf5 import frame_filters

    want = frame_filters("gzip")
    same = (d.dtype == np.float32 and d.chunks == (1, *d.shape[1:]) and d.compression == want["compression"]
            and d.compression_opts == want["compression_opts"] and d.shuffle == want["shuffle"])
    return [d.id.read_direct_chunk((t, 0, 0, 0)) for t in range(d.shape[0])] if same else None


# -- the client side ----------------------------------------------------------------------------

def _resolve(preset_or_setup: str, n_runs, sampler_kwargs, sample_fn):
    """(setup, preset name or None, n_runs, sampler kwargs, ScaleSpec or None).

    A name is looked up as a preset first (``micro`` and ``meso`` are presets of the
    default scales), then as a bare set-up on its default scale.
    """
    from probtok.sim.case import SCALES

    try:
        from probtok.sim.presets import get_preset

        p = get_preset(preset_or_setup)
    except (ImportError, ConfigError) as exc:
        if preset_or_setup not in SCALES:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"unknown set-up {preset_or_setup!r}", hint=f"use one of {sorted(SCALES)}") from exc
        p = None
    if p is None:
        setup, preset, kwargs, scale = preset_or_setup, None, dict(sampler_kwargs or {}), SCALES[preset_or_setup]
    else:
        setup, preset, scale = p.setup, p.name, p.scale
        kwargs = {**dict(p.sampler_kwargs or {}), **dict(sampler_kwargs or {})}
        if n_runs is None:
            n_runs = p.n_runs
        if scale is not None and "scale" not in kwargs and _accepts(sample_fn, "scale"):
            kwargs["scale"] = scale
    if n_runs is None or int(n_runs) < 1:
        raise ConfigError(f"number of runs {n_runs!r} must be >= 1", hint="pass --runs N")
    return setup, preset, int(n_runs), kwargs, scale


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _manifest(setup, preset, seed, kwargs) -> dict:
    return {"setup": setup, "preset": preset, "seed": int(seed),
            "sampler_kwargs": json.loads(json.dumps(kwargs, default=_manifest_default, sort_keys=True))}


def _manifest_default(o):
    if hasattr(o, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(o)
    return json_default(o)


def _check_manifest(path: Path, manifest: dict, what: str) -> None:
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return
    if old != manifest:
        diff = sorted(k for k in manifest if old.get(k) != manifest[k])
        raise ConfigError(f"{what} belongs to another campaign (differs in {diff})", file=path,
                          hint="use another --out, or delete the old output to start over")


@contextlib.contextmanager
def dask_client(scheduler, n_workers: int | None, n_todo: int):
    """A dask.distributed Client: the given one, one connected to an address, or a LocalCluster."""
    import os

    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # an existing Client: the caller owns it
        return
    if isinstance(scheduler, str):
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot connect to the Dask scheduler at {scheduler!r} ({exc})",
                              hint="start it with `dask scheduler` (and workers), or omit --scheduler") from exc
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    n = n_workers or max(1, min(os.cpu_count() or 1, n_todo))
    # Dask spawns its workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc map and unmap every large
    # buffer: torch jobs in such workers (probtok bench fewshot) spent half their CPU time in the kernel
    # (vmstat: 50 % sys) and ran 2.5x slower. One BLAS/OpenMP thread per worker is kept (Dask's default; a
    # caller's own OMP_NUM_THREADS wins, as Dask's config lets the environment override pre-spawn-environ).
    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def run_campaign(preset_or_setup: str, n_runs: int | None = None, out=None, seed: int = 0, scheduler=None,
                 n_workers: int | None = None, simulate_fn=None, sample_fn=None, sampler_kwargs=None,
                 hotspot_threshold_K: float | None = None, progress: bool = True,
                 keep_parts: bool = False, retry_failed: bool = False) -> CampaignReport:
    """Simulate ``n_runs`` runs of a set-up ("micro", "meso") or preset into the run file ``out``.

    scheduler : None (a local cluster of ``n_workers`` processes), a scheduler address
        ("tcp://host:8786"), or a ``distributed.Client``.
    simulate_fn, sample_fn : default ``probtok.sim.solver.run_case`` and
        ``probtok.sim.setups.sample_case`` (``sample_fn(setup, seed, **sampler_kwargs) -> Case``).
    hotspot_threshold_K : default 875 K, raised above the campaign's hottest bulk
        shocked temperature (+100 K) when needed; stored in the file. A run's bulk is the hotter of its
        unreacted shocked solid at the last frame and the Hugoniot state its piston feeds in
        (``SimResult.inflow_T_K``).
    retry_failed : on resume, simulate again the runs whose part records a failure
        (default: keep them; failures are deterministic for a given seed unless the
        cause was the machine, e.g. memory).
    keep_parts : keep ``<out>.parts/`` after assembly (default: removed).
    From a Python script, call this under ``if __name__ == "__main__":`` (the local
    cluster starts worker processes that re-import the main module).
    Returns a :class:`CampaignReport`; ``complete`` is False when runs were lost
    (run the same campaign again to finish them).
    """
    from probtok.data.schema import DEFAULT_HOTSPOT_THRESHOLD_K

    t_start = time.perf_counter()
    if out is None:
        raise ConfigError("no output file given", hint="pass --out FILE.h5")
    out = Path(out)
    if sample_fn is None:
        sample_fn = _default("probtok.sim.setups", "sample_case")
    setup, preset, n_runs, kwargs, scale = _resolve(preset_or_setup, n_runs, sampler_kwargs, sample_fn)
    threshold = DEFAULT_HOTSPOT_THRESHOLD_K if hotspot_threshold_K is None else float(hotspot_threshold_K)
    manifest = _manifest(setup, preset, seed, kwargs)
    report = CampaignReport(out=out, setup=setup, preset=preset, n_runs=n_runs)

    if out.exists():
        done = _finished_output(out, manifest, n_runs)
        report.n_skipped, report.complete = n_runs, True
        report.n_ok, report.n_failed, report.failures, report.hotspot_threshold_K, report.threshold_note = done
        report.wall_s = time.perf_counter() - t_start
        return report

    pdir = parts_dir(out)
    pdir.mkdir(parents=True, exist_ok=True)
    _check_manifest(pdir / MANIFEST, manifest, "the parts folder")
    atomic_write_text(pdir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    todo = [i for i in range(n_runs) if _needs_run(part_path(out, i), retry_failed)]
    report.n_skipped = n_runs - len(todo)

    if todo:
        if simulate_fn is None:
            simulate_fn = _default("probtok.sim.solver", "run_case")
        _simulate(todo, setup, seed, kwargs, simulate_fn, sample_fn, out, scheduler, n_workers, progress, report)

    report.complete = not report.lost
    if report.complete:
        _assemble(out, n_runs, scale, threshold, manifest, report)
        if not keep_parts:
            shutil.rmtree(pdir, ignore_errors=True)
    report.wall_s = time.perf_counter() - t_start
    return report


def _needs_run(path: Path, retry_failed: bool) -> bool:
    part = read_part(path, frames=False)
    return part is None or (retry_failed and not part["ok"])


def _default(module: str, name: str):
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{module}.{name} is not available ({exc})",
                          hint="this probtok installation lacks the simulator part") from exc


def _simulate(todo, setup, seed, kwargs, simulate_fn, sample_fn, out, scheduler, n_workers, progress, report):
    from distributed import as_completed

    from probtok.progress import make_progress

    prog = make_progress() if progress else contextlib.nullcontext()
    with dask_client(scheduler, n_workers, len(todo)) as client, prog:
        task = prog.add_task(f"simulating {setup}", total=len(todo), info="") if progress else None
        futures = {}
        for i in todo:
            fut = client.submit(simulate_one, setup, i, run_seed(seed, i), kwargs, simulate_fn, sample_fn,
                                pure=False, key=f"probtok-{setup}-run-{i:05d}-{time.time_ns()}")
            futures[fut] = i
        n_fail = 0
        for fut in as_completed(futures):
            i = futures.pop(fut)
            try:
                payload = fut.result()
            except _lost_errors():  # the worker died: no part, re-run on resume
                report.lost.append(i)
                continue
            except Exception as exc:  # noqa: BLE001 - the task itself failed outside simulate_one
                payload = _failed_payload(i, run_seed(seed, i), f"{type(exc).__name__}: {exc}")
            write_part(part_path(out, i), payload)
            report.n_simulated += 1
            n_fail += not payload["ok"]
            if progress:
                prog.advance(task)
                prog.update(task, info=f"{n_fail} failed" if n_fail else "")
    report.lost.sort()


def _lost_errors() -> tuple:
    import asyncio
    import concurrent.futures

    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    return (KilledWorker, CommClosedError, asyncio.CancelledError, concurrent.futures.CancelledError,
            TimeoutError, OSError)


def _failed_payload(run: int, seed: int, reason: str) -> dict:
    return {"run": run, "ok": False, "failure": reason, "params": {"seed": seed}, "geometry": [], "fields": [],
            "units": {}, "frames": None, "time_ns": None, "dx_um": None, "dt_frame_ns": None}


def _finished_output(out: Path, manifest: dict, n_runs: int):
    from probtok.data.hdf5 import open_dataset
    from probtok.data.threshold import low_threshold_note

    with open_dataset(out) as ds:
        old = ds.attrs.get("campaign")
        old = json.loads(old) if old else None
        if old != manifest or ds.n_runs != n_runs:
            old = old or {}
            diff = [k for k in manifest if old.get(k) != manifest[k]] + (["n_runs"] if ds.n_runs != n_runs else [])
            raise ConfigError(f"exists and holds another campaign (differs in {diff}; it has {ds.n_runs} runs, "
                              f"set-up {old.get('setup')!r}, preset {old.get('preset')!r}, seed {old.get('seed')})",
                              file=out, hint="use another --out, or delete the file to simulate again")
        failures = {int(i): str(ds.failure[i]) for i in np.flatnonzero(ds.status != "ok")}
        return len(ds.ok_runs), len(failures), failures, ds.hotspot_threshold_K, low_threshold_note(ds)


def _assemble(out: Path, n_runs: int, scale, threshold: float, manifest: dict, report: CampaignReport) -> None:
    """Stream all parts into the final run file (atomic)."""
    from probtok.data.hdf5 import RunWriter
    from probtok.data.threshold import RULE_TEXT
    from probtok.hotspots import choose_threshold
    from probtok.sim.case import UNITS, FIELDS

    metas = [read_part(part_path(out, i), frames=False) for i in range(n_runs)]
    missing = [i for i, m in enumerate(metas) if m is None]
    if missing:
        raise SimulationError(f"{len(missing)} part files are missing or unreadable (first {missing[:5]})",
                              file=parts_dir(out), hint="run the same campaign again to re-simulate them")
    ref = next((m for m in metas if m["ok"]), None)
    if ref is not None:
        fields, units, time_ns = ref["fields"], ref["units"], ref["time_ns"]
        shape, dx, dt = ref["frame_shape"], float(ref["dx_um"]), float(ref["dt_frame_ns"])
        for m in metas:
            if m["ok"] and (m["fields"] != fields or m["frame_shape"] != shape
                            or not np.allclose(m["time_ns"], time_ns)):
                m["ok"] = False
                m["failure"] = (f"frames {m['fields']} {m['frame_shape']} differ from run {ref['run']} "
                                f"({fields} {shape}) or its frame times")
        grid = shape[2:]
    else:  # every run failed: keep the records on the nominal grid
        if scale is None:
            raise SimulationError(f"all {n_runs} runs failed (first: {metas[0]['failure']})", file=out)
        fields, units = list(FIELDS), dict(UNITS)
        time_ns = np.arange(scale.n_frames) * scale.dt_frame_ns
        grid, dx, dt = scale.shape, scale.dx_um, scale.dt_frame_ns
    bulk = np.array([m["params"].get("bulk_T_K", np.nan) for m in metas if m["ok"]], dtype=np.float64)
    # the bulk read off the last frame misses the hottest runs (their shocked solid has reacted by then: NaN)
    # and the layer behind the piston (the porous bulk further in is cooler): the inflow state bounds both
    inflow = np.array([m["params"].get("inflow_T_K", np.nan) for m in metas if m["ok"]], dtype=np.float64)
    threshold = choose_threshold(bulk, default_K=threshold, inflow_T_K=inflow)
    attrs = {"campaign": json.dumps(manifest, sort_keys=True),
             "bulk_shocked_T_K_max": float(np.nanmax(bulk)) if np.isfinite(bulk).any() else float("nan"),
             "inflow_T_K_max": float(np.nanmax(inflow)) if np.isfinite(inflow).any() else float("nan"),
             "hotspot_threshold_rule": RULE_TEXT}
    with RunWriter(out, n_runs=n_runs, time_ns=time_ns, fields=fields, units=units, grid=grid, dx_um=dx,
                   dt_frame_ns=dt, setup=manifest["setup"], hotspot_threshold_K=threshold, attrs=attrs) as w:
        for i, m in enumerate(metas):
            part = read_part(part_path(out, i)) if m["ok"] else {"frames": None, "raw_chunks": None}
            w.write_run(i, part["frames"], params=m["params"], geometry=m["geometry"], ok=m["ok"],
                        failure=m["failure"], raw_chunks=part["raw_chunks"])
    report.n_ok = sum(m["ok"] for m in metas)
    report.n_failed = n_runs - report.n_ok
    report.failures = {i: m["failure"] for i, m in enumerate(metas) if not m["ok"]}
    report.hotspot_threshold_K = threshold
