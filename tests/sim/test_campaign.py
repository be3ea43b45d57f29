"""Campaigns with a cheap analytic fake simulator (a hot disc moving with the shock).

Checks: results equal direct calls, resume skips finished runs (counted),
failures are recorded with their reason, the final file is valid, a lost
worker costs only its in-flight runs, and a 2-process LocalCluster works.
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from probtok.data import open_dataset, validate_file
from probtok.errors import ConfigError
from probtok.sim import campaign as cp
from probtok.sim.case import FIELDS, Case, ScaleSpec, SimResult

SCALE = ScaleSpec("micro", (12, 16), dx_um=0.1, dt_frame_ns=0.05, n_frames=5)


def fake_sample(setup, seed, fail_below=0.0, raise_below=0.0):
    """Case with up_kms ~ U(0.5, 2); runs with up < fail_below fail, < raise_below raise."""
    rng = np.random.default_rng(seed)
    up = float(rng.uniform(0.5, 2.0))
    r = float(rng.uniform(2.0, 4.0))
    mu0 = np.ones(SCALE.shape)
    return Case(setup, seed, SCALE, up, mu0, params={"pore_radius_cells": r, "shape": "circle",
                                                     "fail": up < fail_below, "raise": up < raise_below},
                geometry=[{"kind": "circle", "r_cells": r}])


def fake_simulate(case: Case) -> SimResult:
    """Bulk 400 K shocked solid; a hot disc of radius r at 600 + 1000*up K moving at up."""
    if case.params["raise"]:
        raise RuntimeError("solver exploded")
    if case.params["fail"]:
        return SimResult({}, np.zeros(0), ok=False, failure="positivity lost at step 7")
    H, W = case.scale.shape
    y, x = np.mgrid[0:H, 0:W] + 0.5
    t = np.arange(case.scale.n_frames) * case.scale.dt_frame_ns
    xc = 4.0 + case.up_kms * t[:, None, None] * 20.0
    disc = ((x - xc) ** 2 + (y - H / 2) ** 2) < case.params["pore_radius_cells"] ** 2
    T = np.where(disc, 600.0 + 1000.0 * case.up_kms, 400.0)
    f = {"T": T, "P": np.full_like(T, 10 * case.up_kms), "mu": np.where(disc, 0.5, 1.0),
         "u": np.full_like(T, case.up_kms), "v": np.zeros_like(T), "lam": np.zeros_like(T)}
    return SimResult(f, t, ok=True, n_steps=3)


_CALLS: dict[int, list] = {}
_LOCK = threading.Lock()


class Counter:
    """A simulate_fn that counts its calls (in-process clients: Dask pickles the
    function, so the record lives in this module, not in the instance)."""

    def __init__(self):
        self.key = len(_CALLS)
        _CALLS[self.key] = []

    @property
    def calls(self):
        return _CALLS[self.key]

    def __call__(self, case):
        with _LOCK:
            _CALLS[self.key].append(case.seed)
        return fake_simulate(case)


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    c = Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0")
    yield c
    c.close()


def run(out, client, n_runs=6, simulate_fn=fake_simulate, **kw):
    return cp.run_campaign("micro", n_runs, out, seed=3, scheduler=client, simulate_fn=simulate_fn,
                           sample_fn=fake_sample, progress=False, **kw)


def test_results_equal_direct_calls_and_file_valid(tmp_path, client):
    out = tmp_path / "c.h5"
    rep = run(out, client, sampler_kwargs={"fail_below": 0.9})
    assert rep.complete and rep.n_simulated == 6 and rep.n_skipped == 0
    assert not cp.parts_dir(out).exists()
    validate_file(out)
    with open_dataset(out) as ds:
        assert ds.n_runs == 6 and ds.fields == FIELDS
        for i in range(6):
            case = fake_sample("micro", cp.run_seed(3, i), fail_below=0.9)
            res = fake_simulate(case)
            assert ds.params["seed"][i] == cp.run_seed(3, i)
            assert ds.params["up_kms"][i] == pytest.approx(case.up_kms)
            if res.ok:
                assert ds.status[i] == "ok"
                want = np.stack([res.fields[k] for k in FIELDS], axis=1).astype(np.float32)
                np.testing.assert_array_equal(ds.frames(i), want)
                assert ds.params["bulk_T_K"][i] == 400.0
            else:
                assert ds.status[i] == "failed" and ds.failure[i] == "positivity lost at step 7"
                assert i in rep.failures
        # at least one of each in this seed, so both branches above ran
        assert 0 < rep.n_failed < 6 and rep.n_ok + rep.n_failed == 6
        np.testing.assert_allclose(ds.time_ns, np.arange(5) * 0.05)
        assert ds.hotspot_threshold_K == 875.0  # bulk 400 K + 100 < 875


def test_exception_in_worker_is_recorded_not_dropped(tmp_path, client):
    out = tmp_path / "c.h5"
    rep = run(out, client, sampler_kwargs={"raise_below": 1.2})
    with open_dataset(out) as ds:
        failed = np.flatnonzero(ds.status == "failed")
        assert failed.size == rep.n_failed > 0
        for i in failed:
            assert ds.failure[i] == "RuntimeError: solver exploded"
            assert ds.params["up_kms"][i] < 1.2


def test_resume_after_crash_skips_finished_runs(tmp_path, client, monkeypatch):
    out = tmp_path / "c.h5"
    real_write = cp.write_part
    written = []

    def crash_after_three(path, payload):
        if len(written) == 3:
            raise KeyboardInterrupt  # the client dies after three runs are on disk
        real_write(path, payload)
        written.append(payload["run"])

    monkeypatch.setattr(cp, "write_part", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        run(out, client, simulate_fn=Counter())
    monkeypatch.setattr(cp, "write_part", real_write)
    assert not out.exists()  # never half-written
    assert sorted(p.name for p in cp.parts_dir(out).glob("run_*.h5")) == [f"run_{i:05d}.h5" for i in sorted(written)]

    counter = Counter()
    rep = run(out, client, simulate_fn=counter)
    assert rep.complete and rep.n_skipped == 3 and rep.n_simulated == 3
    assert sorted(counter.calls) == sorted(cp.run_seed(3, i) for i in range(6) if i not in written)

    ref = tmp_path / "ref.h5"
    run(ref, client)
    with open_dataset(out) as a, open_dataset(ref) as b:
        for i in range(6):
            np.testing.assert_array_equal(a.frames(i), b.frames(i))
    # re-running a finished campaign does no work; another campaign on the same file is refused
    counter = Counter()
    rep = run(out, client, simulate_fn=counter)
    assert rep.complete and rep.n_skipped == 6 and counter.calls == []
    with pytest.raises(ConfigError, match="another campaign"):
        cp.run_campaign("micro", 6, out, seed=4, scheduler=client, simulate_fn=fake_simulate,
                        sample_fn=fake_sample, progress=False)


def test_retry_failed_reruns_only_failed_parts(tmp_path, client):
    out = tmp_path / "c.h5"
    rep = run(out, client, keep_parts=True, sampler_kwargs={"fail_below": 0.9})
    assert rep.n_failed > 0 and cp.parts_dir(out).exists()
    ok_run = next(i for i in range(6) if i not in rep.failures)
    part = cp.read_part(cp.part_path(out, ok_run))
    assert len(part["raw_chunks"]) == 5  # assembly copied compressed chunks, not re-encoded
    with open_dataset(out) as ds:
        np.testing.assert_array_equal(ds.frames(ok_run), part["frames"])
    out.unlink()  # e.g. the user deleted the file to re-assemble it with retries
    counter = Counter()
    rep2 = run(out, client, simulate_fn=counter, retry_failed=True, sampler_kwargs={"fail_below": 0.9})
    assert sorted(counter.calls) == sorted(cp.run_seed(3, i) for i in rep.failures)
    assert rep2.n_skipped == 6 - rep.n_failed and rep2.failures == rep.failures


def test_scheduler_address_string_connects(tmp_path, client):
    out = tmp_path / "c.h5"
    rep = cp.run_campaign("micro", 2, out, seed=3, scheduler=client.scheduler.address, simulate_fn=fake_simulate,
                          sample_fn=fake_sample, progress=False)
    assert rep.complete and rep.n_ok == 2
    assert client.status == "running"  # the caller's cluster is left alone


def test_threshold_raised_above_hot_bulk(tmp_path, client):
    def hot_bulk(case):
        res = fake_simulate(case)
        res.fields["T"] = res.fields["T"] + 600.0  # bulk 1000 K
        return res

    rep = run(tmp_path / "c.h5", client, n_runs=2, simulate_fn=hot_bulk)
    assert rep.hotspot_threshold_K == 1100.0
    with open_dataset(tmp_path / "c.h5") as ds:
        assert ds.hotspot_threshold_K == 1100.0 and ds.attrs["bulk_shocked_T_K_max"] == 1000.0


def test_threshold_raised_above_the_inflow_state_where_the_bulk_reacted(tmp_path, client):
    """A strong run whose shocked solid has all reacted by the last frame has no measured bulk (NaN), and the
    porous bulk further in is cooler than the layer the piston feeds in: the threshold clears that inflow
    state (SimResult.inflow_T_K) as well (it sat 20 K above it in the default meso data before)."""
    def burnt_with_hot_inflow(case):
        res = fake_simulate(case)
        res.fields["lam"] = np.ones_like(res.fields["lam"])  # every cell reacted: no unreacted bulk
        res.inflow_T_K = 900.0 + 100.0 * case.up_kms
        return res

    rep = run(tmp_path / "c.h5", client, n_runs=3, simulate_fn=burnt_with_hot_inflow)
    with open_dataset(tmp_path / "c.h5") as ds:
        ups = ds.params["up_kms"]
        np.testing.assert_allclose(ds.params["inflow_T_K"], 900.0 + 100.0 * ups)
        assert np.isnan(ds.params["bulk_T_K"]).all()
        hottest = 900.0 + 100.0 * ups.max()
        assert ds.attrs["inflow_T_K_max"] == pytest.approx(hottest)
        want = np.ceil((hottest + 100.0) / 25.0) * 25.0
        assert ds.hotspot_threshold_K == rep.hotspot_threshold_K == want > 875.0


def die_on_first_run(case):
    """Kills the worker process on the run drawn with seed run_seed(3, 0)."""
    if case.seed == cp.run_seed(3, 0):
        os._exit(1)
    return fake_simulate(case)


def test_local_cluster_two_processes_and_lost_worker(tmp_path, client):
    import cloudpickle
    import dask

    out = tmp_path / "c.h5"
    # worker processes cannot import this test module: ship its functions by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            rep = cp.run_campaign("micro", 6, out, seed=3, n_workers=2, simulate_fn=die_on_first_run,
                                  sample_fn=fake_sample, progress=False)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert not rep.complete and 0 in rep.lost and not out.exists()
    finished = {int(p.stem.split("_")[1]) for p in cp.parts_dir(out).glob("run_*.h5")}
    assert finished == set(range(6)) - set(rep.lost) and len(finished) >= 3
    counter = Counter()
    rep2 = run(out, client, simulate_fn=counter)
    assert rep2.complete and sorted(counter.calls) == sorted(cp.run_seed(3, i) for i in rep.lost)
    validate_file(out)


def _worker_environ():
    import os

    return {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


@pytest.mark.parametrize("caller_omp, worker_omp", [(None, "1"), ("3", "3")])
def test_local_workers_keep_glibcs_dynamic_malloc_thresholds_and_one_blas_thread(monkeypatch, caller_omp,
                                                                                   worker_omp):
    """Dask's default MALLOC_TRIM_THRESHOLD_ made torch jobs in workers spend half their time in the kernel. One
    BLAS thread per worker unless the caller's environment sets OMP_NUM_THREADS (Dask lets it win)."""
    from probtok.sim.campaign import dask_client

    if caller_omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", caller_omp)
    with dask_client(None, 1, 1) as client:
        env = client.submit(_worker_environ, pure=False).result()
    assert env == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": worker_omp}
