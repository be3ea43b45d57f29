"""probtok: probabilistic latent tokens of micro-scale shock dynamics, re-used
for few-shot meso-scale closure models of porous energetic materials.

Subpackages: ``probtok.sim`` (JAX reactive shock solver and campaigns),
``probtok.data`` (HDF5 run format), ``probtok.nets`` (torch networks);
modules ``model``, ``guides``, ``fit``, ``predict``, ``hotspots``,
``diagnostics``, ``closure``. Units throughout: um, ns, g/cm^3, km/s, GPa, K.
"""

__version__ = "0.1.0"

from probtok.errors import ProbtokError  # noqa: F401
