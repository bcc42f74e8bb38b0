"""Web pages of `ledger serve` for learners, families, advisors and registrars."""
