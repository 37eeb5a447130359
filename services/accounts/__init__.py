"""Accounts service: the leer- en loopbaanrekening (learning and career account) of every person.

Only the pure domain layer lives here so far (``services.accounts.domain``) together with the
versioned policy data (``services/accounts/policies/*.yaml``).
"""
