from datetime import date

import pytest

from services.kpi.domain.definitions import age_band, age_on, window_12m, window_4w


@pytest.mark.parametrize(
    ("age", "band"),
    [(24, None), (25, "25-34"), (34, "25-34"), (35, "35-44"), (54, "45-54"), (55, "55-64"), (64, "55-64"), (65, None)],
)
def test_age_band(age, band):
    assert age_band(age) == band


def test_age_on_birthdays():
    assert age_on(date(1980, 5, 10), date(2025, 5, 9)) == 44
    assert age_on(date(1980, 5, 10), date(2025, 5, 10)) == 45
    assert age_on(date(1980, 2, 29), date(2025, 2, 28)) == 44
    assert age_on(date(1980, 2, 29), date(2025, 3, 1)) == 45


def test_windows_end_on_the_reference_date_inclusive():
    assert window_4w(date(2025, 3, 31)) == (date(2025, 3, 4), date(2025, 3, 31))
    assert window_12m(date(2025, 3, 31)) == (date(2024, 4, 1), date(2025, 3, 31))
    assert window_12m(date(2024, 2, 29)) == (date(2023, 3, 1), date(2024, 2, 29))
