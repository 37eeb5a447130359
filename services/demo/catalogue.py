"""What the demo's training providers offer: the providers, their courses (price, hours, how
long a course runs from its start to its end, whether it is listed in the Flemish training database
and qualifies for training leave) and the training budget a learner has to spend.

A course's length decides how long a learner counts in the 4-week participation rate (an
enrolment is a learning activity from its start to its end), so the catalogue mixes short
courses (a day to ten weeks) with the semester and school-year programmes of adult education,
which are what keeps the 4-week rate as high as a third of the 12-month rate in Flanders.
"""
from __future__ import annotations

from dataclasses import dataclass

# (provider id, name, mandated career centre)
PROVIDERS = [
    ("prov-syntra-antwerpen", "Syntra Antwerpen en Vlaams-Brabant", False),
    ("prov-cvo-gent", "CVO Gent", False),
    ("prov-vdab-opleidingen", "VDAB Opleidingen", False),
    ("prov-kulak-permanente-vorming", "KU Leuven Permanente Vorming", False),
    ("prov-cvo-limburg", "CVO Limburg", False),
    ("prov-syntra-west", "Syntra West", False),
    ("prov-loopbaancentrum-brugge", "Loopbaancentrum Brugge", True),
    ("prov-loopbaancentrum-hasselt", "Loopbaancentrum Hasselt", True),
]
# The providers learners enrol with (career centres deliver career guidance, not courses).
TRAINING_PROVIDERS = [provider_id for provider_id, _, mandated in PROVIDERS if not mandated]
# The mandated career centres are accredited as career centres (loopbaancentra) in the accounts
# service too, where people redeem their career cheques.
CAREER_CENTRES = [(provider_id, name) for provider_id, name, mandated in PROVIDERS if mandated]

# The training budget's yearly credit (services/accounts/policies/training_budget.yaml): a course
# that costs more is rejected for lack of funds.
YEARLY_CREDIT_CENTS = 50_000


@dataclass(frozen=True)
class Course:
    title: str
    price_cents: int
    hours: int
    days: int    # planned end minus planned start
    long: bool   # a semester or school-year programme of adult education
    training_database: bool = False  # listed in the Flemish training database: training cheques
    training_leave: bool = False     # qualifies for Flemish training leave

    @property
    def affordable(self) -> bool:
        """Within one year's training budget."""
        return self.price_cents <= YEARLY_CREDIT_CENTS


COURSES = [
    Course("Python voor data-analyse", 45_000, 40, 70, False),
    Course("Boekhouden basis", 32_000, 30, 56, False, training_database=True, training_leave=True),
    Course("Heftruckattest", 21_000, 8, 0, False, training_database=True),
    Course("Nederlands NT2 niveau 2", 12_000, 60, 120, True, training_database=True, training_leave=True),
    Course("Projectmanagement", 68_000, 24, 28, False),
    Course("Lassen TIG", 85_000, 80, 140, True, training_database=True, training_leave=True),
    Course("Digitale vaardigheden", 9_000, 12, 21, False),
    Course("Zorgkundige bijscholing", 27_000, 20, 14, False, training_database=True, training_leave=True),
    Course("Graduaat Boekhouden (jaar 1)", 38_000, 240, 270, True, training_leave=True),
]
# Career centres publish a few courses too (they are accredited providers), nobody enrols there.
CAREER_CENTRE_COURSES = COURSES[:4]

SHORT_AFFORDABLE = [c for c in COURSES if c.affordable and not c.long]
LONG_AFFORDABLE = [c for c in COURSES if c.affordable and c.long]
BEYOND_BUDGET = [c for c in COURSES if not c.affordable]
