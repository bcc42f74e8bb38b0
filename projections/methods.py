"""The mastery methods live in the domain (`ledger.mastery`): the ledger re-derives every credit
basis with them when it records a decision. Re-exported here for the projections and research
code that read them."""

from ledger.mastery import (DEFAULT_METHOD, METHODS, Estimate, Method, MethodError, decaying_average, highest,
                            mastered_since, mean, most_recent, n_times_at_mastery, power_law, trajectory)

__all__ = ["DEFAULT_METHOD", "METHODS", "Estimate", "Method", "MethodError", "decaying_average", "highest",
           "mastered_since", "mean", "most_recent", "n_times_at_mastery", "power_law", "trajectory"]
