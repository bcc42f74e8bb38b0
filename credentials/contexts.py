"""The JSON-LD contexts a credential may name, shipped with the project, and a document loader
that serves only those: canonicalisation must never depend on the network (a fetched context
could change what a signature means, and a verifier offline must get the same bytes)."""

from __future__ import annotations

from pathlib import Path

from pyld.documentloader.frozen import FrozenDocumentLoader

_DIR = Path(__file__).parent / "contexts"

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR_V2 = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
OB_EXTENSIONS = "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"

CONTEXTS: dict[str, Path] = {
    VC_V2: _DIR / "credentials-v2.jsonld",
    OB_V3: _DIR / "ob-context-3.0.3.json",
    # the unversioned OB URL older badges name; the 1EdTech copy of the same vocabulary
    "https://purl.imsglobal.org/spec/ob/v3p0/context.json": _DIR / "ob-context.json",
    CLR_V2: _DIR / "clr-context-2.0.1.json",
    OB_EXTENSIONS: _DIR / "ob-extensions.json",
}


def document_loader() -> FrozenDocumentLoader:
    return FrozenDocumentLoader(documents=dict(CONTEXTS))
