"""The citizens' side of the demo: accounts open from the population feed (with the year's
training budget), and some people buy a career cheque (loopbaancheque) at the regisseur's counter
and follow the guidance at a career centre."""
from __future__ import annotations

import random
import time
from datetime import date

import grpc

from services.common.auth import Role


def fund(api, people, clock, progress=None, timeout_s: float = 300.0) -> None:
    """Wait until the accounts service opened an account for everyone on the feed."""
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


_bought: dict[str, str] = {}


def career_guidance_day(api, people, today: date, rng: random.Random, daily_share: float = 0.0004) -> None:
    """A few people buy a career cheque; earlier buyers get a guidance session."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    stub = api.stub("accounts", "accounts_service", "AccountService")
    for person in rng.sample(people, max(0, round(len(people) * daily_share))):
        if person.person_id in _bought:
            continue
        counter = api.auth("loket-vdab", Role.CITIZEN_COUNTER, person.person_id)
        try:
            cheque = stub.BuyCareerCheque(pb.BuyCareerChequeRequest(
                request_id=f"demo-cheque-{person.person_id}", person_id=person.person_id,
                purchase_date=today.isoformat()), metadata=counter).cheque
            _bought[person.person_id] = cheque.cheque_id
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:  # not eligible: the counter says no
                raise
    for person_id, cheque_id in list(_bought.items()):
        if rng.random() < 0.05:
            counter = api.auth("loket-vdab", Role.CITIZEN_COUNTER, person_id)
            try:
                stub.RecordCareerGuidance(pb.RecordCareerGuidanceRequest(
                    request_id=f"demo-guidance-{cheque_id}", person_id=person_id, cheque_id=cheque_id, hours=4,
                    guidance_date=today.isoformat(), final=True, outcome="POP_DELIVERED"), metadata=counter)
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
            del _bought[person_id]
