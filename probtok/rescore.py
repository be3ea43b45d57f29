"""`probtok bench rescore`: the fitted models of a finished benchmark scored on other runs.

A benchmark (:mod:`probtok.bench`) scores its models on its few test runs (6 by default), and a coverage
over six runs is known to about +-0.2 (:func:`probtok.calibration.run_coverage_range`). Simulating more runs
is cheap (``probtok simulate --preset meso --runs 30 --seed 1``); refitting is not. This scores every model
of the benchmark folder as it was fitted (its ensemble members, its kappa, the benchmark's draws, first
frames and new-task rule; :func:`probtok.bench.run_forecasts`) and its PARC (:func:`probtok.bench.score_parc`,
with PARC's own normaliser) on the runs of any meso file, and writes what the benchmark writes:
``rescore.json`` (the bench.json schema, plus ``rescored`` {``bench``, ``bench_data``, ``bench_test_runs``}
and ``data.test_data``), ``rescore.md`` and the plots, the forecasts under ``forecasts/``.

Nothing is refitted: a model folder the benchmark has no longer is a ConfigError naming it. Forecasts are
reused on a re-run as in the benchmark (the same model, settings and true frames).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from probtok.errors import ConfigError, DataError


def read_bench(bench_dir) -> dict:
    """bench.json of a finished benchmark folder; a ConfigError when it is missing or not one."""
    from probtok.bench import SCHEMA

    path = Path(bench_dir) / "bench.json"
    try:
        bench = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("no bench.json: not a finished benchmark folder", file=path,
                          hint="give the --out folder of a `probtok bench fewshot` that ran to its end") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot be read as JSON ({exc})", file=path) from None
    if bench.get("schema") != SCHEMA:
        raise ConfigError(f"not a few-shot benchmark record (schema {bench.get('schema')!r})", file=path)
    return bench


def model_fits(bench_dir, job: tuple, train_wall_s: float, n_members: int, readapted=()) -> list[dict]:
    """The fits model ``job`` = (model, K, subset, training runs) of a benchmark forecast with, as its jobs
    made them (:func:`probtok.bench.fit_dir`; a member the benchmark adapted again, listed in ``readapted``
    (its result's records), by its second fit, :func:`probtok.bench.readapted_dir`): [{dir, wall_s}] per
    ensemble member, ``wall_s`` the result's ``train_wall_s`` shared out so that the members sum to it. A
    ConfigError names a missing folder."""
    from probtok.bench import fit_dir, readapted_dir
    from probtok.checkpoint import CHECKPOINT_NAME

    again = {int(r["member"]) for r in readapted}
    dirs = [readapted_dir(fit_dir(bench_dir, job, m)) if m in again else fit_dir(bench_dir, job, m)
            for m in range(n_members)]
    for d in dirs:
        if not (d / CHECKPOINT_NAME).exists():
            raise ConfigError(f"the benchmark's {job[0]} fit (K = {job[1]}, subset {job[2]}) is not there",
                              file=d, hint="rescore the folder the benchmark wrote, with its models/ and micro-fit*")
    return [{"dir": str(d), "wall_s": float(train_wall_s) / n_members} for d in dirs]


def _job_parc(parc_path, data, runs, first_frames: int, state_fields, pool, train_s,
              torch_threads: int) -> tuple[dict, dict]:
    """(result entry or failed entry, {"series": ...}) of the benchmark's PARC on ``runs`` of ``data``."""
    import torch

    from probtok.baselines import load_parc
    from probtok.bench import parc_entry, score_parc

    torch.set_num_threads(torch_threads)  # as the benchmark's jobs
    model = load_parc(parc_path)
    sc = score_parc(model, data, runs, first_frames, state_fields)
    return parc_entry(sc, pool, train_s, len(runs)), {"series": sc.get("series")}


def rescore_bench(bench_dir, data, runs, out, *, workers: int | None = None, models=None, echo=print) -> dict:
    """Score the fitted models of the benchmark folder ``bench_dir`` on ``runs`` of the meso file ``data``
    (None: every ok run) into ``out`` (rescore.json, rescore.md, PNGs, forecasts/); returns the record.
    ``workers``: models forecast side by side (Dask, one process and ``torch_threads`` each; default
    :func:`probtok.bench.default_workers`; 1: one after the other here). ``models``: only these of the
    benchmark's models ("adapted", "scratch", "micro-only", "parc"; None: all)."""
    from probtok.atomic import atomic_write_text
    from probtok.bench import (BenchConfig, _json_default, _machine, bench_markdown, bench_plots, default_workers,
                               simulator_timing, summarize_results)
    from probtok.data import open_dataset
    from probtok.predict import check_runs

    t0 = time.perf_counter()
    bench_dir, out = Path(bench_dir), Path(out)
    bench = read_bench(bench_dir)
    # benchmarks written before --theta adapted with frozen micro globals; given, theta is not looked up in the
    # model config (whose path may be gone)
    cfg = BenchConfig(**{"theta": "frozen", **bench["config"]})
    if runs is None:
        with open_dataset(data) as ds:
            runs = [int(r) for r in ds.ok_runs]
    runs = [int(r) for r in runs]
    if not runs:
        raise DataError("no runs to score", file=data, hint="give --runs, or a file with ok runs")
    check_runs(data, runs, ("T",))  # a missing file, run index or failed run: before any work
    present = sorted({r["model"] for r in bench["results"]})
    if models is not None:
        models = list(dict.fromkeys(models))
        unknown = [m for m in models if m not in present]
        if unknown:
            raise ConfigError(f"the benchmark scored no model {', '.join(map(repr, unknown))}",
                              file=bench_dir / "bench.json", hint=f"its models: {', '.join(present)}")
    wanted = set(present if models is None else models)
    scored = [r for r in bench["results"] if r["model"] != "parc" and r["model"] in wanted]
    jobs = [(r["model"], r["k"], r["subset"], r["train_runs"]) for r in scored]
    # every folder checked before any work
    fits = [model_fits(bench_dir, job, r["train_wall_s"], cfg.ensemble, r.get("readapted") or [])
            for job, r in zip(jobs, scored)]
    parc_path = bench_dir / "parc" / "parc.pt"
    parc_res = next((r for r in bench["results"] if r["model"] == "parc"), None)
    parc_args = None
    if parc_res is not None and parc_path.exists() and "parc" in wanted:
        parc_args = (parc_path, Path(data), runs, cfg.first_frames, tuple(bench["parc"]["state_fields"]),
                     list(bench["data"]["train_pool"]), float(parc_res["train_wall_s"]), cfg.torch_threads)
    common = dict(out=out, micro_data=None, meso_data=Path(data), test=runs, cfg=cfg, demo=None)
    n_workers = max(1, int(workers)) if workers is not None else default_workers(len(jobs) + 1)
    echo(f"rescore: {len(jobs)} models{' and PARC' if parc_args else ''} of {bench_dir} on runs {runs} of {data}, "
         f"{n_workers} worker(s)")
    done, parc = _run(jobs, fits, parc_args, common, n_workers, echo)

    results, failed = [], []
    for i in range(len(jobs)):  # the benchmark's order, whatever order the jobs finished in
        res = done[i]
        if res["entry"] is not None and "readapted" in scored[i]:
            res["entry"]["readapted"] = scored[i]["readapted"]  # the benchmark's, whose second fits scored here
        (results if res["entry"] is not None else failed).append(res["entry"] or res["failed"])
    parc_info = dict(bench["parc"])
    parc_info.pop("series", None)
    if parc is not None:
        entry, extra = parc
        (failed if "error" in entry else results).append(entry)
        if extra.get("series") is not None:
            parc_info["series"] = extra["series"]
    forecasts = {job[0]: done[i]["forecasts"] for i, job in enumerate(jobs) if done[i]["entry"] is not None}
    summary = summarize_results(results)
    rec = dict(bench)
    rec.update({"rescored": {"bench": str(bench_dir), "bench_data": bench["data"]["meso"],
                             "bench_test_runs": bench["data"]["test_runs"]},
                "data": {**bench["data"], "test_data": str(data), "test_runs": runs},
                "machine": _machine(cfg.torch_threads, n_workers), "simulator": simulator_timing(data),
                "parc": parc_info, "results": results, "summary": summary, "failed": failed})
    rec.update(bench_plots(results, summary, parc_info, forecasts, data, runs, out))
    rec["wall_s"] = time.perf_counter() - t0
    atomic_write_text(out / "rescore.json", json.dumps(rec, indent=1, default=_json_default))
    atomic_write_text(out / "rescore.md", bench_markdown(rec))
    echo(f"rescore: {out / 'rescore.json'}, {out / 'rescore.md'} ({rec['wall_s'] / 60:.1f} min)")
    return rec


def _run(jobs, fits, parc_args, common, n_workers: int, echo) -> tuple[dict, tuple | None]:
    """({job index: forecast job result}, PARC's (entry, extra) or None), in this process or on a LocalCluster;
    ``fits[i]``: the fits job i forecasts with."""
    from probtok.bench import _echo_job, _job_forecast, _job_label

    n_jobs = len(jobs) + (parc_args is not None)
    if n_workers == 1:
        from probtok.threads import torch_threads

        with torch_threads():  # each job sets its own count: the caller's is restored after
            done = {}
            for i, job in enumerate(jobs):
                done[i] = _job_forecast(fits[i], job, **common, progress=True)
                _echo_job(echo, i + 1, n_jobs, f"{_job_label(job)} forecasts", done[i], "rescore")
            parc = _job_parc(*parc_args) if parc_args else None
        if parc is not None:
            echo(f"rescore: [{n_jobs}/{n_jobs}] PARC done")
        return done, parc

    from distributed import as_completed

    from probtok.sim.campaign import dask_client

    from probtok.progress import client_progress, run_forwarded

    with dask_client(None, n_workers, n_jobs) as client, client_progress(client):
        # run_forwarded: each job's bar over its runs is drawn here, labelled
        futures = [client.submit(run_forwarded, f"{_job_label(job)} forecasts", _job_forecast, fits[i], job, **common,
                                 progress=True, pure=False, key=f"rescore-{job[0]}-K{job[1]}-s{job[2]}")
                   for i, job in enumerate(jobs)]
        by_key = {f.key: i for i, f in enumerate(futures)}
        parc_f = client.submit(_job_parc, *parc_args, pure=False, key="rescore-parc") if parc_args else None
        done, parc, n = {}, None, 0
        for fut in as_completed([*futures, *([parc_f] if parc_f is not None else [])]):
            res = fut.result()
            n += 1
            if parc_f is not None and fut.key == parc_f.key:
                parc = res
                echo(f"rescore: [{n}/{n_jobs}] PARC done")
            else:
                i = by_key[fut.key]
                done[i] = res
                _echo_job(echo, n, n_jobs, f"{_job_label(jobs[i])} forecasts", res, "rescore")
    return done, parc
