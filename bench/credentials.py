"""Signing and checking one credential: p50 / p99 of an eddsa-rdfc-2022 Data Integrity proof
(RDFC-1.0 canonicalisation of document and proof options, then Ed25519) and of a VC-JWT (EdDSA
over the JSON), beside the raw baseline of Ed25519 over the same credential's JSON bytes, same
process, same run, calls alternated. The credential is 1EdTech's ob30_complete fixture without its
proof (shared/data/credentials), or --file.

    python bench/credentials.py [--samples 200] [--file CREDENTIAL.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, command_line, percentiles, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--file", type=Path, default=ROOT.parent / "shared" / "data" / "credentials" / "ob30_complete.json")
    args = parser.parse_args()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from credentials import integrity, jwt as vc_jwt
    from credentials.multikey import public_multibase

    doc = {k: v for k, v in json.loads(args.file.read_text()).items() if k != "proof"}
    key = Ed25519PrivateKey.generate()
    multibase = public_multibase(key.public_key())
    method = f"did:key:{multibase}#{multibase}"
    issuer = doc["issuer"]["id"] if isinstance(doc["issuer"], dict) else doc["issuer"]
    kid = f"{issuer}#{multibase}"  # the JWT binds its kid to the credential's issuer
    resolve = {method: key.public_key(), kid: key.public_key()}.__getitem__
    created = "2026-12-02T00:00:00Z"
    signed = integrity.sign(doc, key, verification_method=method, created=created)
    token = vc_jwt.encode(doc, key, kid=kid)
    assert integrity.verify(signed, resolve).ok and vc_jwt.decode(token, resolve)[1] == kid
    raw = json.dumps(doc, sort_keys=True).encode()
    signature = key.sign(raw)
    cases = {
        "raw Ed25519 sign (baseline)": lambda: key.sign(json.dumps(doc, sort_keys=True).encode()),
        "raw Ed25519 verify (baseline)": lambda: key.public_key().verify(signature, raw),
        "eddsa-rdfc-2022 sign": lambda: integrity.sign(doc, key, verification_method=method, created=created),
        "eddsa-rdfc-2022 verify": lambda: integrity.verify(signed, resolve),
        "VC-JWT EdDSA sign": lambda: vc_jwt.encode(doc, key, kid=kid),
        "VC-JWT EdDSA verify": lambda: vc_jwt.decode(token, resolve),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.samples):
        for name, call in cases.items():
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1000)
    base = {"sign": percentiles(times["raw Ed25519 sign (baseline)"])[0],
            "verify": percentiles(times["raw Ed25519 verify (baseline)"])[0]}
    rows = []
    for name, samples in times.items():
        p50, p99 = percentiles(samples)
        rows.append([name, f"{p50:.3f}", f"{p99:.3f}", f"{p50 / base['sign' if 'sign' in name else 'verify']:.0f}x"])
    report("Credential signing and checking", command_line(), rows,
           ["operation", "p50 ms", "p99 ms", "p50 / raw baseline"],
           f"{args.file.name}, {len(raw):,} bytes of JSON, {args.samples} samples each, alternated.")


if __name__ == "__main__":
    main()
