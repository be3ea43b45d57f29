"""The main job: the demo pipeline on built-in data, one stage after another.

Each stage writes its outputs under ``out/`` and is skipped when they already
exist, so re-running the demo (or resuming it after a kill) redoes only what
is missing. Stages so far:

1. ``data``: simulate the small built-in micro and meso campaigns
   (presets ``micro-small`` and ``meso-small``) and summarise them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DemoConfig:
    """What the demo simulates. Presets are names from :mod:`probtok.sim.presets`."""

    micro_preset: str = "micro-small"
    meso_preset: str = "meso-small"
    micro_runs: int | None = None  # None: the preset's
    meso_runs: int | None = None
    seed: int = 0
    n_workers: int | None = None


@dataclass
class DemoResult:
    out: Path
    files: dict = field(default_factory=dict)  # stage/name -> path
    reports: dict = field(default_factory=dict)


def stage_data(out: Path, cfg: DemoConfig, result: DemoResult, echo=print) -> None:
    """Simulate (or reuse) the micro and meso datasets."""
    from probtok.sim.campaign import run_campaign

    for scale, preset, n in (("micro", cfg.micro_preset, cfg.micro_runs), ("meso", cfg.meso_preset, cfg.meso_runs)):
        path = out / "data" / f"{scale}.h5"
        rep = run_campaign(preset, n, path, seed=cfg.seed, n_workers=cfg.n_workers)
        if not rep.complete:
            from probtok.errors import SimulationError

            raise SimulationError(
                f"{len(rep.lost)} {scale} runs were lost with their worker",
                file=path,
                hint="re-run the same command: finished runs are kept and skipped",
            )
        echo(f"{scale}: {path} ({rep.n_ok} ok, {rep.n_failed} failed, {rep.n_simulated} simulated now, "
             f"{rep.n_skipped} reused, {rep.wall_s:.1f} s)")
        result.files[f"data/{scale}"] = path
        result.reports[f"data/{scale}"] = rep


def run_demo(out, cfg: DemoConfig | None = None, echo=print) -> DemoResult:
    """Run every stage of the demo into the folder ``out``."""
    out = Path(out)
    cfg = cfg or DemoConfig()
    result = DemoResult(out=out)
    stage_data(out, cfg, result, echo=echo)
    return result
