"""Issue a development access token with the key pair ``make run`` created under ``.llr/keys``.

    python -m infra.devtokens ORGANISATION_ID ROLE [--person PERSON_ID] [--hours 8]
"""
from __future__ import annotations

import argparse
from datetime import timedelta

from infra.stack import InfraSettings
from services.common.auth import Role, TokenIssuer
from services.common.clock import SystemClock


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.devtokens")
    parser.add_argument("organisation_id")
    parser.add_argument("role", choices=[r.value for r in Role])
    parser.add_argument("--person", default="", help="person id, for CITIZEN_COUNTER tokens")
    parser.add_argument("--hours", type=float, default=8)
    args = parser.parse_args()
    key = (InfraSettings().home / "keys" / "token-signing.pem").read_bytes()
    issuer = TokenIssuer(key, "llr-dev-idp", SystemClock())
    print(issuer.issue(args.organisation_id, Role(args.role), person_id=args.person, ttl=timedelta(hours=args.hours)))


if __name__ == "__main__":
    main()
