"""The exceptions and warnings cocktail raises."""


class CocktailError(Exception):
    """Input cocktail cannot work with; the message says what to change."""


class ConvergenceWarning(UserWarning):
    """The solver stopped at its iteration limit before reaching its tolerance."""
