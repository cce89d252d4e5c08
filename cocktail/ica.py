"""The public name of the instantaneous solver: ``cocktail.ica.ica``.

The solver lives in :mod:`cocktail.bss.ica`; this module keeps the name the
API has always documented.
"""

from .bss.ica import ALGORITHMS, ICAResult, ica

__all__ = ["ALGORITHMS", "ICAResult", "ica"]
