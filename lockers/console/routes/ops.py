"""/healthz (no auth: 200 when the database answers) and /metrics (Prometheus text format,
bearer token unless ``console.metrics_public``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from lockers.console.auth import principal
from lockers.console.context import context_of
from lockers.console.metrics import render_metrics
from lockers.errors import LockersError

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz(request: Request) -> Response:
    ctx = context_of(request)
    try:
        ctx.database.ping()
    except LockersError as exc:
        return JSONResponse({"status": "unavailable", "message": exc.message}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    ctx = context_of(request)
    if not ctx.settings.console.metrics_public:
        principal(request)  # any valid token (or session); raises NotAuthenticated otherwise
    return Response(render_metrics(ctx), media_type=CONTENT_TYPE_LATEST)
