"""Old home of the adaptive searches, kept so that ``from jaxnn.sweeps.adaptive import ...`` keeps working.

They now live one scheduler per module in :mod:`jaxnn.sweeps.schedulers` (``early_stopping``: ``run``,
``patience``; ``halving``: ``successive_halving``, ``hyperband``, ``hyperband_brackets``; ``pbt``;
``result``: ``AdaptiveResult``) and are public in :mod:`jaxnn.sweeps`.
"""

from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.schedulers import (
    AdaptiveResult,
    Patience,
    hyperband,
    hyperband_brackets,
    patience,
    pbt,
    run,
    successive_halving,
)

__all__ = ["run", "successive_halving", "hyperband", "pbt", "patience", "Patience", "AdaptiveResult",
           "hyperband_brackets", "rank"]
