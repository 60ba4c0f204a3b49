"""The service runner's logic without Qt: results instead of exceptions, ids, tags."""

from __future__ import annotations

import logging

import pytest

from lockers.errors import StoreError
from lockers.ui.job_dispatch import JobBook, run_job


def test_a_value_and_the_tag_come_back() -> None:
    book = JobBook()
    job = book.new("retrieve", lambda: 42, tag=7)
    result = run_job(job)
    assert (result.job_id, result.kind, result.value, result.tag, result.ok) == (
        1,
        "retrieve",
        42,
        7,
        True,
    )


def test_errors_are_results_and_only_bugs_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    book = JobBook()

    def database_down() -> None:
        raise StoreError("database is locked", hint="retry")

    def bug() -> None:
        raise ZeroDivisionError("division by zero")

    with caplog.at_level(logging.ERROR):
        known = run_job(book.new("health", database_down, tag="t"))
        assert caplog.records == []  # a user's situation, shown, not a traceback
        unknown = run_job(book.new("health", bug))
    assert not known.ok and isinstance(known.error, StoreError) and known.tag == "t"
    assert not unknown.ok and isinstance(unknown.error, ZeroDivisionError)
    assert [r.exc_info is not None for r in caplog.records] == [True]


def test_the_book_knows_what_has_not_answered() -> None:
    book = JobBook()
    first, second = book.new("a", lambda: None), book.new("b", lambda: None)
    assert (first.job_id, second.job_id) == (1, 2) and book.busy()
    book.done(run_job(first))
    assert book.busy()
    book.done(run_job(second))
    assert not book.busy()
