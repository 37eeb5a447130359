"""Verifiable credentials for certificates (pure crypto and data, no I/O).

* ``encoding``        -- base58btc, base64url, multibase and multicodec helpers.
* ``keys``            -- Ed25519 issuer keys (loaded from configuration), did:key / Multikey ids.
* ``jcs``             -- JSON Canonicalization Scheme (RFC 8785), via the ``rfc8785`` package.
* ``data_integrity``  -- ``DataIntegrityProof`` with cryptosuite ``eddsa-jcs-2022``.
* ``status_list``     -- W3C Bitstring Status List v1.0 (revocation and suspension).
* ``credential``      -- the Open Badges 3.0 / VC 2.0 document of a certificate.
* ``did_web``         -- the issuer's did:web DID (from the public base URL) and DID document.
* ``verify``          -- ``verify(credential, status_lists, public_keys, now)``.
"""
