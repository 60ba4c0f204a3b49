"""The REST API fuzzed from its own OpenAPI document with schemathesis, against the console
served by a real uvicorn on loopback with an admin's bearer token: valid and invalid inputs
for every operation; no answer is a 5xx, every error is JSON with a message, and every answer
matches the document (status code, content type, body schema).

Bounded for a loaded 2-core machine: ``EXAMPLES`` per operation and generation mode (a few
hundred requests in all), no shrinking, no example database."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests
import schemathesis
from console_kit import Console, rent
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks

from lockers.config import Settings
from lockers.console import accounts

EXAMPLES = 25
# The answers match the document: documented status codes, content types and bodies.
CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # ?wait= is fuzzed too: keep each wait short (commands here are never finished)
    console = settings.console.model_copy(update={"max_wait_s": 0.2})
    return settings.model_copy(update={"console": console})


def _check(method: str, path: str, response: requests.Response, problems: list[str]) -> None:
    where = f"{method} {path} -> {response.status_code}"
    if response.status_code >= 500:
        problems.append(f"{where}: {response.text[:200]}")
    elif response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            problems.append(f"{where}: not JSON: {response.text[:200]}")
            return
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            problems.append(f"{where}: no message: {response.text[:200]}")


def test_openapi_document_fuzzed_without_5xx_and_with_json_errors(console: Console) -> None:
    rent(console.database, "1", console.clock.now, hours=2)
    token = accounts.create_token(console.database, "ada", None, 1, "fuzz", console.clock.now)
    schema = schemathesis.openapi.from_url(f"{console.url}/api/v1/openapi.json")
    problems: list[str] = []
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    with requests.Session() as http:
        http.headers.update({"Authorization": f"Bearer {token}"})
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @hypothesis_settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def exercise(case: schemathesis.Case) -> None:
                    response = case.call(base_url=console.url, session=http, timeout=15)
                    statuses[response.status_code] += 1
                    _check(case.method, case.formatted_path, response, problems)
                    try:
                        case.validate_response(response, checks=CONFORMANCE)
                    except Exception as exc:  # schemathesis raises a group of failures
                        problems.append(f"{case.method} {case.formatted_path}: {exc}"[:600])

                try:
                    exercise()
                except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                    assert mode is GenerationMode.NEGATIVE
    took = time.monotonic() - started
    print(f"fuzzed {sum(statuses.values())} requests in {took:.1f} s: {dict(statuses)}")
    assert not problems, "\n".join(problems[:20])
    assert sum(statuses.values()) >= 100  # it really ran
    assert statuses[200] > 0 and any(400 <= s < 500 for s in statuses)
