"""The numerics of blind source separation, on arrays held in memory.

Imports neither :mod:`cocktail.io` nor click.
"""
