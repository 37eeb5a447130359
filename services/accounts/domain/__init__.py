"""Pure domain of the accounts service (leer- en loopbaanrekening): policies, ledger, career
cheques and the funding saga's decisions. No I/O except reading the policy data files."""
from services.accounts.domain.account import account_id_for, close_account, open_account
from services.accounts.domain.budget import BUDGET_WALLET, credit_budget, credit_yearly_budget
from services.accounts.domain.career_cheques import (
    CareerCheque,
    CareerChequeDecision,
    ChequeStatus,
    ComplexityAssessment,
    NotEligible,
    Reason,
    ReasonCode,
    assess_career_cheque,
    assess_career_cheque_for,
    buy_career_cheque,
    close_career_cheque,
    expire_career_cheques,
    record_career_guidance,
    record_complexity_assessment,
)
from services.accounts.domain.common import (
    DomainError,
    IdempotencyConflict,
    InvalidArgument,
    NotFound,
    RuleViolation,
    Unit,
    school_year_of,
)
from services.accounts.domain.development_plan import DevelopmentPlan, lists_in_plan, record_development_plan
from services.accounts.domain.funding import (
    EnrolmentRequest,
    Instrument,
    Rejected,
    RejectionReason,
    ReleaseReason,
    Reserved,
    capture_reservation,
    decide_reservation,
    policy_for_request,
    release_reservation,
    reserve_for_enrolment,
)
from services.accounts.domain.ledger import (
    Account,
    AccountState,
    Entry,
    EntryKind,
    Explanation,
    Hold,
    HoldStatus,
    InsufficientFunds,
    MutationResult,
    WalletKind,
    WalletRef,
    ensure_available,
)
from services.accounts.domain.person import PersonProfile
from services.accounts.domain.policies import (
    CapturePoint,
    Credited,
    CreditPeriod,
    EducationLevel,
    LabourStatus,
    PolicyCatalog,
    PolicyKind,
    PolicyNotInForce,
    default_catalog,
    load_policies,
    policy_in_force,
)
from services.accounts.domain.yearly import Grant, Period, apply_grant, grants_between, grants_due

from types import ModuleType as _ModuleType

__all__ = sorted(
    name for name, value in globals().items()
    if not name.startswith("_") and not isinstance(value, _ModuleType)
)
