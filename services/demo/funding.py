"""The citizens' side of the demo's set-up: accounts open from the population feed, with the
year's training budget (the accounts service does that on its own). ``Accounts`` tells when a
person's account is open: the simulation asks before it posts an enrolment or buys a cheque for
someone, so the year can start while the later learners' accounts are still opening (the feed
lists people in the order the plan first needs them). Career cheques bought at the regisseur's
counter and their guidance sessions are planned in ``plan.py`` and recorded through
``grpc_platform.py``."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import grpc

from services.common.auth import Role


class Accounts:
    def __init__(self, api, timeout_s: float = 300.0) -> None:
        from llr.accounts.v1 import accounts_service_pb2 as pb

        self._pb = pb
        self._stub = api.stub("accounts", "accounts_service", "AccountService")
        self._regisseur = api.auth("vdab", Role.REGISSEUR)
        self._timeout_s = timeout_s
        self._open: set[str] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.waited_s = 0.0   # seconds spent waiting for accounts, summed over the threads that waited

    def close(self) -> None:
        """Make every ``wait`` still going raise (the demo is stopping)."""
        self._closed.set()

    def wait(self, person_ids: Iterable[str], progress: Callable[[], None] | None = None) -> None:
        """Return once every one of ``person_ids`` has an account; raises the last error when one
        has none after the timeout (the feed never reached the accounts service)."""
        for person_id in person_ids:
            with self._lock:
                known = person_id in self._open
            began = time.monotonic()
            deadline = began + self._timeout_s
            while not known:
                try:
                    self._stub.GetAccount(self._pb.GetAccountRequest(person_id=person_id), metadata=self._regisseur)
                    with self._lock:
                        self._open.add(person_id)
                    known = True
                except grpc.RpcError as err:
                    if err.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                        raise
                    if self._closed.wait(0.2):
                        raise RuntimeError(f"stopped waiting for the account of {person_id}") from None
            with self._lock:
                self.waited_s += time.monotonic() - began
            if progress:
                progress()
