"""Settings of the accounts service (env prefix `LLR_ACCOUNTS_`): Leer- en loopbaanrekening accounts: wallets, ledger, policies, funding saga."""
from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings, service_config


class AccountsSettings(ServiceSettings):
    model_config = service_config("LLR_ACCOUNTS_")

    service_name: str = "accounts"
    mongo_db: str = "llr_accounts"
    grpc_port: int = 50061

    # How often the career-cheque expiry job runs (service clock decides what is due).
    expiry_interval_s: float = 60.0
    # How often the yearly-credit job looks for credits due (1 January, 1 September) and how many
    # accounts one of its ticks credits at most (it resumes from its cursor at the next tick).
    yearly_credit_interval_s: float = 60.0
    yearly_credit_batch: int = 2_000
    # The job yields to the online work (the funding saga, the RPCs): it credits with this many
    # threads and pauses after every few accounts so that it is busy at most this share of the
    # time (measured: 4 threads at full speed saturated FerretDB for 30 s and held the make-run
    # demo's calls up for 10 s, starts missed their no-show deadline). On a cluster, raise both.
    yearly_credit_workers: int = Field(1, ge=1, le=64)
    yearly_credit_duty: float = Field(0.5, gt=0, le=1)
    # A budget opening is drawn at the earliest this long after its window closes, so that an
    # application accepted just before the close (written within its RPC deadline) is in the draw.
    opening_draw_settle_s: float = 30.0
