"""The demo waits for a person's account before it acts for them: it asks once per person, keeps
asking while the account is not open yet, and gives up when the demo stops."""
from __future__ import annotations

import threading

import grpc
import pytest

from services.demo.funding import Accounts
from tests.unit.demo.fakes import OneServiceApi


class NotFound(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.NOT_FOUND


class FakeAccountService:
    def __init__(self, opens_after: dict[str, int]) -> None:
        self.opens_after = opens_after   # person -> NOT_FOUND answers before the account exists
        self.asked: list[str] = []

    def GetAccount(self, request, metadata):
        self.asked.append(request.person_id)
        if self.asked.count(request.person_id) <= self.opens_after.get(request.person_id, 0):
            raise NotFound()
        return object()


def test_waits_until_each_account_is_open_and_asks_no_more_once_it_is():
    service = FakeAccountService({"p1": 2})
    accounts = Accounts(OneServiceApi(service))
    done = []
    accounts.wait(["p1", "p2"], lambda: done.append(1))
    assert service.asked == ["p1", "p1", "p1", "p2"] and len(done) == 2
    accounts.wait(["p2", "p1"])
    assert len(service.asked) == 4


def test_the_time_spent_waiting_is_summed_over_the_threads_that_waited():
    accounts = Accounts(OneServiceApi(FakeAccountService({"p1": 2, "p2": 2})))
    threads = [threading.Thread(target=accounts.wait, args=([person],)) for person in ("p1", "p2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert accounts.waited_s >= 2 * 2 * 0.2   # each waited two pauses of 0.2 s, side by side


def test_a_closed_waiter_stops_waiting_for_an_account_that_never_opens():
    accounts = Accounts(OneServiceApi(FakeAccountService({"never": 10**9})))
    errors = []

    def wait():
        try:
            accounts.wait(["never"])
        except RuntimeError as exc:
            errors.append(str(exc))
    thread = threading.Thread(target=wait)
    thread.start()
    accounts.close()
    thread.join(5)
    assert not thread.is_alive() and errors == ["stopped waiting for the account of never"]


def test_an_account_that_never_opens_fails_after_the_timeout():
    accounts = Accounts(OneServiceApi(FakeAccountService({"never": 10**9})), timeout_s=0.3)
    with pytest.raises(NotFound):
        accounts.wait(["never"])
