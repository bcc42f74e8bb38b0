"""Credit decisions in the domain: rules, the basis the log gives, and checking a claimed basis.

The ledger derives every basis itself, from the learner's recorded events and the catalogue, so
neither a client's body nor a read model can put a credit on the record the evidence does not
support. `ledger.credit.log` (reading a learner's events from the store) is imported where
needed only: it depends on the stream aggregates, which depend on this package.
"""

from ledger.credit.rules import RuleResult, evaluate_rule

__all__ = ["RuleResult", "evaluate_rule"]
