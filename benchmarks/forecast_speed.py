"""A 200-draw forecast of one meso run against simulating that run, on this machine, now.

Issue 4's target: a 200-draw forecast of one meso run faster than simulating the run. Prints, for each
model folder (an adapted meso model or a micro fit):

* the forecast's phases as ``probtok.predict.forecast_run`` runs them, one torch thread (``--threads N``: N): conditioning of
  the task latent, the rollout of the token trajectories (:func:`probtok.predict.forecast_trace`),
  decoding to physical fields, the summary (each frame of each batch reduced into a
  :class:`probtok.forecast.DrawStatistics`, then :func:`probtok.forecast.summarize_forecast`); wall and
  process CPU seconds, and the peak resident memory of the process;
* the same made the way the forecast made them before (``pyro.infer.Predictive``, three model passes per
  batch; all draws in one array, converted to physical units in one pass, summarised from it), unless
  ``--no-old``;

Each model's forecast is timed after one untimed batch of draws and its summary (the first call's one-off
costs: imports, the CUDA context, cuDNN's choice of kernels). And the
simulation of the same run (its stored seed, ``probtok.sim.setups.sample_case`` +
``probtok.sim.solver.run_case``, the campaign's own solver settings), after one call that compiles,
as wall and process CPU seconds (JAX may use more than one thread: the CPU seconds say how much).

    python benchmarks/forecast_speed.py --data meso.h5 --run 24 --models BENCH/models/K4_s0/meso-adapt \\
        BENCH/micro-fit --draws 200 [--kappa-choice]

``--ensemble`` also times one forecast pooling all the models (an ensemble, :func:`probtok.predict.forecast_run`
given them, ``--draws`` split among them). ``--kappa-choice`` also times each adapted model's choice of its rollout noise kappa (part of the
adaptation's time: issue 4's target is <= 10 minutes for the adaptation).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np
import pyro
import torch

from probtok.data import open_dataset
from probtok.forecast import DrawStatistics, summarize_forecast
from probtok.predict import (default_draw_batch, fewest_first_frames, forecast_guide, forecast_model, forecast_run,
                             forecast_trace, load_posterior, task_posterior, torch_device)


class Clock:
    """Wall and process CPU seconds of a block; on a CUDA device, of the GPU work it queued too (synchronised
    at both ends: kernels run asynchronously)."""

    def __init__(self, device=None):
        self.cuda = device is not None and torch.device(device).type == "cuda"

    def _sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def __enter__(self):
        self._sync()
        self.t, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self._sync()
        self.wall, self.cpu = time.perf_counter() - self.t, time.process_time() - self.c


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far [GB] (Linux: ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@torch.no_grad()
def phases(post, x_first, n_frames: int, n_draws: int, c_post, batch: int, old: bool, stats) -> dict:
    """Seconds of the rollout and of the decoding. The draws made as forecast_run makes them, each frame of
    a batch reduced into ``stats`` (DrawStatistics) as it comes; ``old``: as it made them before this
    change: Predictive, all draws in one array, one inverse normalisation of the whole array, the summary
    from the array (returned as "draws")."""
    s, grid = post.start_frame, tuple(x_first.shape[-2:])
    kappa = post.rollout_noise
    dev = post.device
    x_first = x_first.to(dev)
    out = x_first.new_empty((n_draws, n_frames, *x_first.shape[1:])) if old else None
    roll = dec = red = 0.0
    if old:
        out[:, :s] = x_first[:s]
    else:
        for t in range(s):
            stats.add(0, t, post.normaliser.inverse(x_first[t], field_axis=-3).expand(n_draws, *x_first.shape[1:]))
    pyro.set_rng_seed(0)
    for start in range(0, n_draws, batch):
        n = min(batch, n_draws - start)
        with Clock(dev) as c:
            if old:
                sites = ["sigma_x"] + [f"z_{t}" for t in range(n_frames - s)]
                z = pyro.infer.Predictive(forecast_model, guide=forecast_guide, num_samples=1, return_sites=sites)(
                    post, n, n_frames - s, grid, x_first[s:], c_post, observe=False, rollout_noise=kappa)
                z = {k: v[0] for k, v in z.items()}
            else:
                tr = forecast_trace(post, n, n_frames - s, grid, x_first[s:], c_post, kappa)
                z = {k: tr.nodes[k]["value"] for k in tr.nodes if k.startswith("z_")}
        roll += c.wall
        for t in range(n_frames - s):
            with Clock(dev) as c:
                mean = post.model.decoder(z[f"z_{t}"])
                if old:
                    out[start : start + n, s + t] = mean
                else:
                    mean = post.normaliser.inverse(mean, field_axis=-3)
            dec += c.wall
            if not old:
                with Clock(dev) as c:
                    stats.add(start, s + t, mean)
                red += c.wall
    with Clock(dev) as c:
        if old:
            out = post.normaliser.inverse(out, field_axis=-3)
    return {"rollout_s": roll, "decode_s": dec + c.wall, "reduce_s": red, "draws": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the meso file (HDF5) the run is in")
    ap.add_argument("--run", type=int, default=24)
    ap.add_argument("--models", nargs="*", default=[], help="fitted model folders (none: time the simulation only)")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--batch", type=int, default=None,
                    help="draws per batch (default: the forecast's own for the device, "
                         "probtok.predict.default_draw_batch)")
    ap.add_argument("--device", default="cpu", help="where the forecast runs: cpu or cuda[:N]")
    ap.add_argument("--old-batch", type=int, default=100, help="draws per batch of the Predictive path (its default)")
    ap.add_argument("--no-old", action="store_true", help="skip the Predictive path")
    ap.add_argument("--ensemble", action="store_true",
                    help="also time one forecast pooling all --models (probtok.predict.forecast_run given them; "
                         "the draws split among them), conditioning and summary included")
    ap.add_argument("--kappa-choice", action="store_true",
                    help="also time the choice of kappa (probtok.rollout_noise.choose_rollout_noise, its defaults) "
                         "of each adapted model on its training runs, as the adaptation makes it")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads of the forecast (default 1, as the "
                    "earlier records; `probtok forecast` uses one per CPU unless --threads)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch_device(args.device)
    batch = default_draw_batch(device) if args.batch is None else args.batch
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; torch "
          f"{torch.__version__}, {args.threads} CPU thread(s), forecasts on {device}{gpu}; run {args.run} of {args.data}, "
          f"{args.draws} draws")
    with open_dataset(args.data) as ds:
        seed, n_frames = int(ds.params["seed"][args.run]), ds.n_frames
        stored_wall = float(ds.params["wall_s"][args.run]) if "wall_s" in ds.params else float("nan")

    for model in args.models:
        post = load_posterior(model, device)
        m = fewest_first_frames(post)
        with open_dataset(args.data) as ds:
            truth = ds.frames(args.run, post.spec.fields, frames=slice(0, n_frames))
            meta = dict(units=[ds.units[f] for f in post.spec.fields], time_ns=ds.time_ns[:n_frames],
                        dx_um=ds.dx_um, threshold=ds.hotspot_threshold_K)
        x_first = post.normaliser.forward(torch.as_tensor(truth), field_axis=-3)[:m]
        # one untimed batch first (the CUDA context, cuDNN's choice of kernels, the allocator's first blocks):
        # what the solver's compiling call below is to the simulation
        warm = min(batch, args.draws)
        stats = DrawStatistics((warm, *truth.shape), post.spec.fields, meta["dx_um"], meta["threshold"])
        phases(post, x_first, n_frames, warm, None, warm, False, stats)
        summarize_forecast(stats, post.spec.fields, meta["units"], meta["time_ns"], meta["dx_um"], meta["threshold"])
        rows = []
        for old in ([False] if args.no_old else [False, True]):  # the new path first: the peak RSS only grows
            stats = DrawStatistics((args.draws, *truth.shape), post.spec.fields, meta["dx_um"], meta["threshold"])
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with Clock(device) as total:
                with Clock(device) as cond:
                    c_post, _ = task_posterior(post, args.data, args.run, x_first, seed=args.run)
                p = phases(post, x_first, n_frames, args.draws, c_post, args.old_batch if old else batch, old,
                           stats)
                with Clock(device) as summ:
                    summarize_forecast(p["draws"] if old else stats, post.spec.fields, meta["units"], meta["time_ns"],
                                       meta["dx_um"], meta["threshold"], run_id=args.run, truth=truth)
            del p["draws"]
            rows.append((f"Predictive (3 model passes), all draws in one array, {args.old_batch} a batch" if old else
                         f"forecast_trace (1 pass), reduced frame by frame, {batch} a batch", cond.wall,
                         p["rollout_s"], p["decode_s"],
                         p["reduce_s"] + summ.wall, total.wall, total.cpu, peak_rss_gb()))
        print(f"\n{model} (kappa {post.rollout_noise:g}, {m} first frames)")
        print("| draws made with | condition c [s] | rollout [s] | decode [s] | summary [s] | total wall [s] | "
              "total CPU [s] | per draw [s] | peak RSS so far [GB] |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, *t in rows:
            print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in t[:-1]) + f" | {t[-3] / args.draws:.3f} | "
                  f"{t[-1]:.2f} |")
        if device.type == "cuda":
            print(f"peak GPU memory of the last forecast: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")

    if args.ensemble:
        if len(args.models) < 2:
            raise SystemExit("--ensemble needs two or more --models")
        posts = [load_posterior(model, device) for model in args.models]
        forecast_run(posts, args.data, args.run, n_draws=2 * len(posts), seed=args.run)  # untimed: as above
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with Clock(device) as c:
            fc = forecast_run(posts, args.data, args.run, n_draws=args.draws, seed=args.run)
        print(f"\nensemble of the {len(posts)} models ({fc.attrs['ensemble_draws']} draws), "
              f"probtok.predict.forecast_run, {default_draw_batch(device)} a batch: {c.wall:.2f} s wall, "
              f"{c.cpu:.2f} s CPU" + (f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
                                      if device.type == "cuda" else ""))

    if args.kappa_choice:
        from probtok.rollout_noise import choose_rollout_noise

        for model in args.models:
            post = load_posterior(model)
            runs = [int(r) for r in post.meta.get("train_runs", [])]
            if not post.adapted or not runs:
                continue
            with Clock() as c:
                rec = choose_rollout_noise(model, args.data, runs, progress=False)
            print(f"\nchoice of kappa for {model} on its runs {runs[:8]}: kappa {rec['kappa']:g}, {c.wall:.1f} s "
                  f"wall, {c.cpu:.1f} s CPU")

    from probtok.sim.setups import sample_case
    from probtok.sim.solver import run_case

    import jax

    print(f"\nJAX {jax.__version__} simulates on {jax.default_backend()} ({jax.devices()[0].device_kind})")
    case = sample_case("meso", seed)
    run_case(case)  # compiles
    with Clock() as sim:
        res = run_case(case)
    print(f"\nsimulating run {args.run} (seed {seed}, {res.n_steps} steps, ok {res.ok}): {sim.wall:.2f} s wall, "
          f"{sim.cpu:.2f} s CPU (after one compiling call; the campaign stored {stored_wall:.2f} s, compile "
          f"included when it was its worker's first run)")


if __name__ == "__main__":
    main()
