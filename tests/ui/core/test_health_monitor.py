"""The periodic service jobs (health, housekeeping, the service thread's watchdog beat) and
the staff session's end, without Qt: a hand-driven clock and a recorded job queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lockers.kiosk.dto import StaffSession
from lockers.kiosk.errors import StaffAuthError, StaffSessionExpired
from lockers.ui.health_monitor import HealthMonitor
from lockers.ui.job_dispatch import JobBook, JobResult, run_job
from lockers.ui.kiosk_state import KioskStatus, StaffState
from lockers.ui.ports import ServiceHealth
from lockers.ui.staff_controller import StaffController


class Queue:
    """Stands in for the service runner: jobs wait until the test runs them."""

    def __init__(self) -> None:
        self.book = JobBook()
        self.waiting: list[Any] = []

    def submit(self, kind: str, call: Callable[[], Any], tag: object = None) -> int:
        job = self.book.new(kind, call, tag)
        self.waiting.append(job)
        return job.job_id

    def kinds(self) -> list[str]:
        return [job.kind for job in self.waiting]

    def run(self, kind: str) -> JobResult:
        job = next(j for j in self.waiting if j.kind == kind)
        self.waiting.remove(job)
        return run_job(job)


class Backend:
    def __init__(self) -> None:
        self.housekept = 0

    def health(self) -> ServiceHealth:
        return ServiceHealth(board_ok=True, free_lockers=3, total_lockers=4)

    def housekeeping(self) -> str:
        self.housekept += 1
        return "0 rentals expired"


class Watch:
    def __init__(self) -> None:
        self.beats: list[str] = []

    def beat(self, part: str) -> None:
        self.beats.append(part)


def monitor(
    queue: Queue, clock: list[float], watch: Watch | None = None, **changes: Any
) -> tuple[HealthMonitor, list[str]]:
    lines: list[str] = []
    options: dict[str, Any] = {"interval_s": 2.0, "housekeeping_interval_s": 300.0}
    options.update(changes)
    made = HealthMonitor(
        Backend(),  # type: ignore[arg-type]
        queue.submit,
        lambda status: None,
        lines.append,
        lambda: clock[0],
        status=KioskStatus(),
        watch=watch,
        **options,
    )
    return made, lines


def test_housekeeping_runs_every_interval_one_at_a_time() -> None:
    queue, clock = Queue(), [1000.0]
    health, lines = monitor(queue, clock)
    health.tick(1000.0, door_open=False)
    assert "housekeeping" not in queue.kinds()  # the start-up check has just done it
    clock[0] = 1299.0
    health.tick(clock[0], door_open=False)
    assert "housekeeping" not in queue.kinds()
    clock[0] = 1300.0
    health.tick(clock[0], door_open=False)
    health.tick(clock[0] + 400, door_open=False)  # still running: never two at once
    assert queue.kinds().count("housekeeping") == 1
    health.on_job(queue.run("housekeeping"))
    assert "housekeeping: 0 rentals expired" in lines
    health.tick(1599.0, door_open=False)
    assert "housekeeping" not in queue.kinds()
    health.tick(1600.0, door_open=False)
    assert queue.kinds().count("housekeeping") == 1


def test_the_service_thread_beats_only_when_it_runs_its_jobs() -> None:
    queue, clock, watch = Queue(), [0.0], Watch()
    health, _ = monitor(queue, clock, watch)
    health.tick(0.0, door_open=False)
    assert queue.kinds().count("beat") == 1 and watch.beats == []
    health.tick(5.0, door_open=False)  # the service thread is stuck: no second beat job
    assert queue.kinds().count("beat") == 1 and watch.beats == []
    health.on_job(queue.run("beat"))
    assert watch.beats == ["service"]  # said by the job, on whichever thread runs it
    health.tick(5.5, door_open=False)
    assert queue.kinds().count("beat") == 1
    health.on_job(queue.run("beat"))
    health.tick(6.0, door_open=False)
    assert queue.kinds().count("beat") == 0  # at most one a second
    health.tick(6.5, door_open=False)
    assert queue.kinds().count("beat") == 1


def test_without_a_watchdog_no_beat_jobs_and_a_failed_poll_is_a_service_error() -> None:
    queue, clock = Queue(), [0.0]
    health, _ = monitor(queue, clock, housekeeping_interval_s=None)
    health.tick(0.0, door_open=False)
    assert queue.kinds() == ["health"]
    job = queue.waiting.pop()
    health.on_job(JobResult(job.job_id, "health", error=RuntimeError("database unreachable")))
    assert health.status.problems == ("ooo.loading", "ooo.service")
    health.tick(0.5, door_open=True)  # a door stands open: polled twice a second
    assert queue.kinds() == ["health"]


def session() -> StaffSession:
    return StaffSession("token", "staff", "admin")


def staff_room() -> tuple[StaffController, Queue, list[StaffState]]:
    queue, published = Queue(), []
    room = StaffController(
        None,  # type: ignore[arg-type]
        queue.submit,
        published.append,
        lambda line: None,
        lambda: 0.0,
        idle_s=90.0,
    )
    room.state = StaffState(session=session())
    return room, queue, published


def test_the_session_ends_on_the_expiry_type_whatever_its_words() -> None:
    room, _queue, published = staff_room()
    expired = StaffSessionExpired("세션이 끝났습니다", hint="다시 로그인")
    room.on_job(JobResult(1, "staff_lockers", error=expired), {})
    assert room.state.session is None and published[-1].message == "세션이 끝났습니다"


def test_other_refusals_keep_the_session_even_if_they_say_logged_out() -> None:
    room, _queue, _published = staff_room()
    refused = StaffAuthError("not logged in to the printer (logged out)")
    room.on_job(JobResult(1, "staff_action", error=refused), {})
    assert room.state.session is not None and not room.state.busy
