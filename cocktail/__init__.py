"""cocktail: separate the speakers of a multi-microphone recording.

The Python API in a few names (imported on first use, so that the command
line starts quickly):

- ``separate(X, sample_rate, ...)``: the whole job behind ``cocktail separate``;
- ``cocktail.ica.ica(X, ...)``: natural-gradient ICA of an instantaneous mixture;
- ``CocktailError``: raised for input cocktail cannot work with.
"""

import importlib

__version__ = "1.1.0"

_API = {
    "CocktailError": "cocktail.errors",
    "ConvergenceWarning": "cocktail.errors",
    "ICAResult": "cocktail.bss.ica",
    "Separation": "cocktail.separation",
    "separate": "cocktail.separation",
    "amari_index": "cocktail.metrics",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'cocktail' has no attribute {name!r}")
