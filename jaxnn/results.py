"""Old home of :class:`SweepResult` and the chunk store, kept for imports; see :mod:`jaxnn.sweeps.results`
and :mod:`jaxnn.sweeps.store`."""

from jaxnn.sweeps.results import RESULT_FORMAT, SweepResult  # noqa: F401
from jaxnn.sweeps.store import dump_json, read_chunk, write_chunk  # noqa: F401

__all__ = ["SweepResult", "RESULT_FORMAT"]
