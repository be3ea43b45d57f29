"""Baselines for the few-shot benchmark.

``parc``: the PARC-style recurrent CNN (deterministic, trained on meso runs only)::

    from probtok.baselines import ParcConfig, train_parc, save_parc, load_parc
    model, history = train_parc(x, vel, dt, ParcConfig(), val=(vx, vvel))
    x_pred, vel_pred = model.rollout(x0, vel0, n_frames, dt)
"""

from probtok.baselines.parc import PARC, ParcConfig, count_parameters, load_parc, save_parc
from probtok.baselines.parc_train import train_parc

__all__ = ["PARC", "ParcConfig", "count_parameters", "load_parc", "save_parc", "train_parc"]
