"""The SVI loss histories of a benchmark's adapted ensemble members: where a diverged one left the others.

For every ``models/K<k>_s<s>`` folder of each given benchmark folder (``probtok bench fewshot --out``), one row
per adapted member (``meso-adapt``, ``meso-adapt-m<m>``, and a second fit ``...-readapted`` where the benchmark
made one): the loss per run-frame before the first update (step 0: the micro fit as it starts on the meso
runs), after the first update (step 1), its largest value and the step of it, the final loss
(:func:`probtok.divergence.final_loss`, the median of the last 10 steps) and how many median absolute deviations
that lies above the first fits' median (:func:`probtok.divergence.loss_spread`, the rule's; flagged above
:data:`probtok.divergence.LOSS_MADS`). Reads checkpoints only; nothing is fitted.

    python benchmarks/adapt_losses.py BENCH [BENCH ...]
    python benchmarks/adapt_losses.py --members NAME DIR DIR ...   # adaptation folders as one ensemble
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from probtok.bench import readapted_dir
from probtok.checkpoint import load_checkpoint
from probtok.divergence import LOSS_MADS, final_loss, loss_spread


def member_dirs(group: Path) -> list[Path]:
    """The first adaptations of one (K, subset) folder, in member order."""
    def member(p: Path) -> int:
        m = re.fullmatch(r"meso-adapt(?:-m(\d+))?", p.name)
        return -1 if m is None else int(m.group(1) or 0)
    return sorted((p for p in group.iterdir() if member(p) >= 0 and (p / "checkpoint.pt").exists()), key=member)


def rows(group: Path, firsts: list[Path] | None = None, name: str | None = None) -> list[str]:
    """The table rows of one ensemble: the benchmark's ``group`` folder (models/K<k>_s<s>), or the adaptation
    folders ``firsts`` (its members, in order) labelled ``name``."""
    firsts = member_dirs(group) if firsts is None else [Path(p) for p in firsts]
    name = name or group.name
    ckpts = {p: load_checkpoint(p) for p in firsts}
    med, mad = loss_spread([final_loss(c) for c in ckpts.values()])
    again = [readapted_dir(p) for p in firsts]
    ckpts.update({p: load_checkpoint(p) for p in again if (p / "checkpoint.pt").exists()})
    out = []
    for p, ck in ckpts.items():
        losses = np.asarray(ck["losses"], dtype=np.float64).ravel()
        fin = final_loss(ck)
        dev = (fin - med) / mad if mad > 0 else float("nan")
        flag = " flagged" if p in firsts and dev > LOSS_MADS else ""
        fc = ck["fit_config"]
        out.append(f"| {name} | {p.name} | {fc.get('theta_lr_factor', 1.0):g} | {fc.get('theta_warmup_steps', 0)} | "
                   f"{losses[0]:.3g} | "
                   f"{losses[1]:.3g} | {losses.max():.3g} | {int(losses.argmax())} | {fin:.3g} | {dev:.1f}{flag} |")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", nargs="*", type=Path, help="benchmark folders")
    ap.add_argument("--members", nargs="+", action="append", default=[], metavar="NAME DIR",
                    help="a label and the adaptation folders of one ensemble (repeatable)")
    args = ap.parse_args(argv)
    print("loss per run-frame (negative ELBO + rollout term); deviations: median absolute deviations of the final "
          f"loss above the first fits' median (flagged above {LOSS_MADS:g})\n")
    print("| subset | member | theta lr factor | theta warm-up steps | step 0 | step 1 | max | at step | final | "
          "deviations |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for bench in args.bench:
        for group in sorted((bench / "models").glob("K*_s*")):
            for line in rows(group):
                print(line)
    for name, *dirs in args.members:
        for line in rows(Path(name), [Path(d) for d in dirs], name):
            print(line)


if __name__ == "__main__":
    main()
