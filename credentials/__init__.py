"""Verifiable credentials: issuer keys and DIDs, Data Integrity signing and verification,
bitstring status lists, Open Badges 3.0 badges and the CLR 2.0 transcript."""
