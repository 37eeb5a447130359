"""The person attributes the account rules need, as delivered by the population feed.

Persons are identified only by the pseudonymous ``person_id`` (never a national register number).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.accounts.domain.common import InvalidArgument
from services.accounts.domain.policies import EducationLevel, LabourStatus


@dataclass(frozen=True, kw_only=True)
class PersonProfile:
    person_id: str
    education_level: EducationLevel
    labour_status: LabourStatus
    work_experience_months: int = 0
    # Exact days when the feed has them; otherwise derived from months (see experience_days).
    work_experience_days: int | None = None
    temp_work_months: int = 0  # part of work_experience_months
    longest_temp_spell_days: int = 0  # longest consecutive spell as temp worker (uitzendkracht)
    ibo_wep_months: int = 0  # IBO/WEP contracts (VDAB training/work-experience schemes), NOT in work_experience
    birth_date: date | None = None
    date_of_death: date | None = None

    def __post_init__(self) -> None:
        if not self.person_id:
            raise InvalidArgument("person_id is required")
        object.__setattr__(self, "education_level", EducationLevel(self.education_level))
        object.__setattr__(self, "labour_status", LabourStatus(self.labour_status))
        for name in ("work_experience_months", "temp_work_months", "longest_temp_spell_days", "ibo_wep_months"):
            if getattr(self, name) < 0:
                raise InvalidArgument(f"{name} must be >= 0")
        if self.work_experience_days is not None and self.work_experience_days < 0:
            raise InvalidArgument("work_experience_days must be >= 0")

    def experience_months(self, include_ibo_wep: bool) -> int:
        return self.work_experience_months + (self.ibo_wep_months if include_ibo_wep else 0)

    def experience_days(self, include_ibo_wep: bool) -> int:
        """Days of work experience; without exact days, ``months * 365 // 12`` (84 months = 2,555 days)."""
        days = (
            self.work_experience_days
            if self.work_experience_days is not None
            else self.work_experience_months * 365 // 12
        )
        return days + (self.ibo_wep_months * 365 // 12 if include_ibo_wep else 0)
