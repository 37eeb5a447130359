"""The citizens' side of the demo's set-up: accounts open from the population feed, with the
year's training budget; the demo waits for those of the people its plan needs. Career cheques bought at the regisseur's counter and their guidance
sessions are planned in ``plan.py`` and recorded through ``grpc_platform.py``."""
from __future__ import annotations

import time

import grpc

from services.common.auth import Role


def fund(api, people, clock, progress=None, timeout_s: float = 300.0) -> None:
    """Wait until the accounts service opened an account for each of ``people``."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    stub = api.stub("accounts", "accounts_service", "AccountService")
    regisseur = api.auth("vdab", Role.REGISSEUR)
    deadline = time.monotonic() + timeout_s
    for person in people:
        while True:
            try:
                stub.GetAccount(pb.GetAccountRequest(person_id=person.person_id), metadata=regisseur)
                break
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if progress:
            progress()
