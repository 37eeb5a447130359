"""Pure domain layer of the certification service: no I/O, no clock reads, no framework imports.

Modules:

* ``model``        -- mentoring organisations, candidates, training records.
* ``policy``       -- versioned policy data (``policies/certification.yaml``, incl. milestones) and
                      ``evaluate_requirements`` / ``evaluate_continuing_education``.
* ``certificate``  -- the certificate aggregate and its lifecycle.
* ``assignments``  -- mentor assignments (capacity, valid MENTOR certificate).
* ``events``       -- domain events (frozen dataclasses).
* ``errors``       -- domain errors (subclasses of ``services.common.errors``).
* ``credentials``  -- verifiable credentials: JCS, Data Integrity proofs (eddsa-jcs-2022),
                      Bitstring Status Lists, credential building and verification.
"""
