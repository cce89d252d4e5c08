"""cocktail: separate the speakers of a multi-microphone recording.

The Python API in a few names; the command line (``cocktail``) is built on it.
"""
__version__ = "1.0.0"

from .errors import CocktailError, ConvergenceWarning  # noqa: E402
from .ica import ICAResult, ica  # noqa: E402
from .separation import Separation, separate  # noqa: E402

__all__ = ["CocktailError", "ConvergenceWarning", "ICAResult", "Separation", "ica", "separate",
           "__version__"]
