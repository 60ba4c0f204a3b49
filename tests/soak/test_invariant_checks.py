"""The soak's invariant checks catch deliberately broken services, and find nothing wrong with
the real one: in-process kiosks (no SIGKILL), real emulator, real SQLite file."""

from __future__ import annotations

import pytest
from broken_services import (
    DoubleBookingService,
    ForgetsTemplatesService,
    LosesRentalsService,
    WrongLockerService,
    factory,
)

from lockers.soak.options import SoakOptions
from lockers.soak.runner import SoakResult, run_soak


def _soak(service: type | None, cycles: int = 40) -> SoakResult:
    return run_soak(
        SoakOptions(
            kiosks=2,
            max_cycles=cycles,
            max_seconds=60,
            in_process=True,
            sigkill_rate=0.0,
            board_fault_rate=0.0,
            db_fault_rate=0.0,
            service_factory=None if service is None else factory(service),
            seed=7,
        )
    )


def test_the_real_service_violates_nothing() -> None:
    result = _soak(None)
    assert result.clean, result.examples
    assert result.ops["register:opened"] > 10 and result.ops["retrieve:opened"] > 5


def test_a_service_that_opens_the_wrong_locker_is_caught() -> None:
    result = _soak(WrongLockerService)
    assert result.violations["wrong_locker_opens"] > 0
    assert result.violations["lost_rentals"] > 0  # the renter's belongings stay, rental ended
    assert any("wrong_locker_opens" in line for line in result.examples)


def test_a_service_that_forgets_templates_is_caught() -> None:
    result = _soak(ForgetsTemplatesService)
    assert result.violations["orphaned_templates"] > 0
    assert result.violations["wrong_locker_opens"] == 0


def test_a_service_that_double_books_is_caught() -> None:
    result = _soak(DoubleBookingService, cycles=20)
    assert result.violations["double_bookings"] > 0
    assert result.violations["wrong_locker_opens"] > 0  # someone else's belongings exposed


def test_a_service_that_loses_rentals_is_caught() -> None:
    result = _soak(LosesRentalsService)
    assert result.violations["lost_rentals"] > 0


@pytest.mark.parametrize("rate", [1.5, -0.1])
def test_bad_rates_are_refused(rate: float) -> None:
    from lockers.errors import LockersError

    with pytest.raises(LockersError, match="sigkill_rate must be between 0 and 1"):
        run_soak(SoakOptions(sigkill_rate=rate))
