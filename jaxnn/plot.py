"""``jaxnn.plot``: figures of sweep results; the implementation lives in :mod:`jaxnn.sweeps.plot`."""

from jaxnn.sweeps.plot import *  # noqa: F401,F403
from jaxnn.sweeps.plot import __all__  # noqa: F401
