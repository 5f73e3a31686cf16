"""The adaptive searches, one scheduler per module, on the lanes (:mod:`jaxnn.sweeps.lanes`) and the driver
(:mod:`jaxnn.sweeps.driver`):

* :mod:`~jaxnn.sweeps.schedulers.early_stopping` -- :func:`run` (every trial to ``steps``, each stopping on
  its own, lanes refilled) and :func:`patience`;
* :mod:`~jaxnn.sweeps.schedulers.halving` -- :func:`successive_halving`, :func:`hyperband`,
  :func:`hyperband_brackets`;
* :mod:`~jaxnn.sweeps.schedulers.pbt` -- :func:`pbt`, population-based training;
* :mod:`~jaxnn.sweeps.schedulers.asha` -- :func:`asha`, asynchronous successive halving (lanes never wait);
* :mod:`~jaxnn.sweeps.schedulers.bohb` -- :func:`bohb`, Hyperband's brackets with TPE proposals;
* :mod:`~jaxnn.sweeps.schedulers.search` -- :func:`search`, model-based search at one budget (a trainable
  or a plain ``fn(key, **hp)``);
* :mod:`~jaxnn.sweeps.schedulers.proposals` -- trials proposed by a sampler (:mod:`jaxnn.sweeps.samplers`)
  as lanes start them;
* :mod:`~jaxnn.sweeps.schedulers.result` -- :class:`AdaptiveResult`; :mod:`~jaxnn.sweeps.schedulers.common`
  -- the checks, setup and finish every search shares.

Every search trains the trials of a space with a :class:`~jaxnn.sweeps.Trainable` in segments of compiled,
vmapped steps; between segments the host ranks (:func:`jaxnn.sweeps.ranking.rank`), stops, copies and
refills on the (lanes,) metric arrays only.  A survivor continues from its state, so a trial's metric after
rungs 1..k equals training it once for the same total steps.  A search's ``mode`` is the caller's, else
the direction the trainable declares for its ``metric`` (:mod:`jaxnn.sweeps.directions`).
"""

from jaxnn.sweeps.schedulers.asha import asha
from jaxnn.sweeps.schedulers.bohb import bohb
from jaxnn.sweeps.schedulers.early_stopping import Patience, patience, run
from jaxnn.sweeps.schedulers.halving import hyperband, hyperband_brackets, successive_halving
from jaxnn.sweeps.schedulers.pbt import pbt
from jaxnn.sweeps.schedulers.result import AdaptiveResult
from jaxnn.sweeps.schedulers.search import search

__all__ = ["run", "patience", "Patience", "successive_halving", "hyperband", "hyperband_brackets", "pbt",
           "AdaptiveResult", "asha", "bohb", "search"]
