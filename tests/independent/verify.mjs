// An outside verifier for the ledger's signed credentials, written by nobody here: Digital
// Bazaar's VC library (@digitalbazaar/vc) with their eddsa-rdfc-2022 cryptosuite, Data Integrity
// proof and Bitstring Status List checker. This file only wires them together and serves them
// documents from files, so nothing is fetched: a verifier that went to the network would prove
// nothing about what we ship, and CI has no network.
//
//   node tests/independent/verify.mjs CREDENTIAL.json URL=FILE ...
//
// Each URL=FILE is a document the loader may serve (the JSON-LD contexts, the issuer's DID
// document, its status list credential). A DID URL with a fragment resolves to that
// verification method of the DID document. Prints one JSON object: the credential's verdict and,
// for a ClrCredential, each embedded credential's.
import {readFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';

const [credentialFile, ...served] = process.argv.slice(2);
const documents = new Map(served.map(arg => {
  const at = arg.indexOf('=');
  return [arg.slice(0, at), JSON.parse(readFileSync(arg.slice(at + 1), 'utf8'))];
}));
const asked = new Set();

async function documentLoader(url) {
  asked.add(url);
  if(documents.has(url)) {
    return {contextUrl: null, documentUrl: url, document: documents.get(url)};
  }
  const [base] = url.split('#');
  const controller = documents.get(base);
  const method = controller?.verificationMethod?.find(m => m.id === url);
  if(method) {
    return {contextUrl: null, documentUrl: url,
      document: {'@context': controller['@context'], ...method}};
  }
  throw new Error(`${url} is not available offline`);
}

const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022});

function reasons(result) {
  const found = [];
  const walk = e => {
    if(!e) {
      return;
    }
    if(Array.isArray(e)) {
      e.forEach(walk);
      return;
    }
    found.push(e.message || String(e));
    if(e.details?.event) {
      const {code, details} = e.details.event;
      found.push(`${code}: ${JSON.stringify(details)}`);
    }
    walk(e.errors);
    walk(e.cause);
  };
  walk(result.error);
  for(const r of result.results || []) {
    walk(r.error);
  }
  return [...new Set(found)];
}

async function check(credential) {
  const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
  const statuses = result.statusResult?.results || [];
  return {
    id: credential.id,
    type: credential.type,
    proof_verified: (result.results || []).some(r => r.verified),
    verified: result.verified,
    status_checked: statuses.length > 0,
    revoked: statuses.some(s => s.credentialStatus?.statusPurpose === 'revocation' && s.status === true),
    errors: reasons(result),
  };
}

const credential = JSON.parse(readFileSync(credentialFile, 'utf8'));
const verdict = await check(credential);
if(credential.type?.includes('ClrCredential')) {
  verdict.embedded = [];
  for(const inner of credential.credentialSubject?.verifiableCredential || []) {
    verdict.embedded.push(await check(inner));
  }
}
verdict.documents_asked = [...asked].sort();
console.log(JSON.stringify(verdict));
