"""The signer against the specification's own test vectors (OB 3.0 and CLR 2.0), byte for byte,
and the verifier against the 1EdTech validator's fixtures: accepted as published, rejected after
any one-character change of a signed value."""

import hashlib
import html
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from credentials.integrity import canonical, hash_data, sign
from credentials.multikey import did_key, private_from_hex, public_from_multibase, public_multibase
from credentials.verify import verify

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "credentials"
SPEC = DATA / "ob3-spec"
KEY_HEX = ("6241a409e6707bb640a0140a8a32bc3d193c33a661747284d6adfa4ed4180be4"
           "4bdeafde2ea8beefadd8c699b5c7e0704cf51154d52e17b20b71337ca04cc5a5")
METHOD = "https://example.edu/issuers/565049#z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi"


def page_text(name: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", (SPEC / name).read_text()))


def page_json(text: str, heading: str) -> dict:
    start = text.index("{", text.index(heading))
    return json.JSONDecoder().raw_decode(text[start:])[0]


def page_value(text: str, heading: str) -> str:
    return text[text.index(heading) + len(heading):].split()[0]


CASES = {"OB 3.0": ("linked-data-proof-ob.html", "obv3p0", "The credential used in the example is:"),
         "CLR 2.0": ("linked-data-proof-clr.html", "clrv2p0", "The credential used in the example is:")}


@pytest.mark.parametrize("case", CASES)
def test_signer_reproduces_the_spec_vectors_byte_for_byte(case):
    page, folder, heading = CASES[case]
    text = page_text(page)
    unsigned = page_json(text, heading)
    key = private_from_hex(KEY_HEX)
    assert public_multibase(key.public_key()) == METHOD.split("#")[1]
    expected_doc = (SPEC / "test-vectors" / folder / "document-canon.txt").read_text()
    expected_proof = (SPEC / "test-vectors" / folder / "proof-canon.txt").read_text()
    assert canonical(unsigned) == expected_doc
    signed = sign(unsigned, key, verification_method=METHOD, created="2010-01-01T19:23:24Z")
    options = {k: v for k, v in signed["proof"].items() if k != "proofValue"} | {"@context": unsigned["@context"]}
    assert canonical(options) == expected_proof
    data = hash_data(unsigned, signed["proof"])
    assert data.hex() == page_value(text, "Data to sign (hex)")
    assert hashlib.sha256(expected_doc.encode()).hexdigest() == page_value(text, "Document hash (hex)")
    assert signed["proof"]["proofValue"] == page_value(text, "Proof value (hex)")


def resolvable_fixtures():
    """(name, credential) for each fixture, and each embedded credential, whose contexts we ship
    and whose proof is eddsa-rdfc-2022 with a key named in its verification method."""
    out = []
    for path in sorted(DATA.glob("*.json")):
        doc = json.loads(path.read_text())
        for where, cred in [("", doc)] + [(f"/vc/{i}", c) for i, c in
                                          enumerate(doc.get("credentialSubject", {}).get("verifiableCredential", []))]:
            proof = cred.get("proof", {})
            proof = proof[0] if isinstance(proof, list) and len(proof) == 1 else proof
            if isinstance(proof, dict) and proof.get("cryptosuite") == "eddsa-rdfc-2022":
                out.append((path.name + where, cred))
    return out


FIXTURES = resolvable_fixtures()


def test_the_fixture_set_is_what_we_think():
    names = [n for n, _ in FIXTURES]
    # clr20_complex is signed Ed25519Signature2020 (VC 1.1 contexts): not a suite this verifier reads
    assert names == ["clr20_simple.json", "clr20_simple.json/vc/0", "ob30_complete.json", "ob30_simple.json"]


@pytest.mark.parametrize("name", [n for n, _ in FIXTURES])
def test_verifier_accepts_each_resolvable_fixture(name):
    """The proof holds; what is left is only what cannot be checked offline (a 1EdTechRevocationList
    status service) or the fixture's own validity window, each named."""
    verdict = verify(dict(FIXTURES)[name])
    assert any(c.startswith("proof: eddsa-rdfc-2022 signature holds") for c in verdict.checks), verdict.line
    assert "OB 3.0 shape" in verdict.checks
    assert all(p.startswith(("credentialStatus.type '1EdTechRevocationList'", "expired:")) for p in verdict.problems), \
        verdict.problems


def signed_strings(doc, path=()):
    """Paths of every string value outside the proof."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k not in ("proof", "@context"):
                yield from signed_strings(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from signed_strings(v, path + (i,))
    elif isinstance(doc, str) and doc:
        yield path


def changed(doc, path, position):
    copy = json.loads(json.dumps(doc))
    node = copy
    for step in path[:-1]:
        node = node[step]
    value = node[path[-1]]
    i = position % len(value)
    node[path[-1]] = value[:i] + ("x" if value[i] != "x" else "y") + value[i + 1:]
    return copy


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_one_character_change_is_rejected(data):
    name, cred = data.draw(st.sampled_from(FIXTURES))
    paths = [p for p in signed_strings(cred) if p[-1] not in ("type",)]
    path = data.draw(st.sampled_from(paths))
    tampered = changed(cred, path, data.draw(st.integers(0, 10_000)))
    verdict = verify(tampered)
    assert not verdict.ok, (name, path)
    assert any(p.startswith("proof:") for p in verdict.problems), verdict.line


def test_a_changed_proof_value_is_rejected_with_one_line():
    cred = dict(FIXTURES)["ob30_simple.json"]
    proof = dict(cred["proof"][0])
    proof["proofValue"] = proof["proofValue"][:-1] + ("A" if proof["proofValue"][-1] != "A" else "B")
    verdict = verify({**cred, "proof": proof})
    assert not verdict.ok and "\n" not in verdict.line and "signature does not match" in verdict.line


@given(seed=st.binary(min_size=32, max_size=32))
@settings(max_examples=30, deadline=None)
def test_multikey_and_did_key_round_trip(seed):
    key = private_from_hex(seed.hex()).public_key()
    assert public_from_multibase(public_multibase(key)).public_bytes_raw() == key.public_bytes_raw()
    assert did_key(key).startswith("did:key:z6Mk")
