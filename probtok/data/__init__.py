"""probtok's data layer: the HDF5 run format, validation, import, normalisation, torch datasets.

Main entry points: :func:`open_dataset` (lazy reader), :class:`RunWriter` /
:func:`write_dataset` (atomic writers), :func:`import_arrays` (NumPy arrays of
the paper code's layout), :func:`validate_file`, :class:`Normaliser`,
:class:`FrameWindows` (torch Dataset, imported from ``probtok.data.torch_dataset``).
"""

from probtok.data.hdf5 import RunDataset, RunWriter, open_dataset, write_dataset  # noqa: F401
from probtok.data.importer import import_arrays  # noqa: F401
from probtok.data.normalize import Normaliser, RunningStats  # noqa: F401
from probtok.data.schema import DEFAULT_HOTSPOT_THRESHOLD_K, DIMS, FORMAT, FORMAT_VERSION  # noqa: F401
from probtok.data.validate import validate_file  # noqa: F401
