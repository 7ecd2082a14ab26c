"""FaultMiddleware: deterministic dice, forced faults, lost replies that still take effect."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from erpbridge.sims._common.faults import FaultConfig, FaultKind, FaultMiddleware


def _counter_app() -> tuple[Starlette, list[int]]:
    effects: list[int] = []

    async def bump(request: Request) -> JSONResponse:
        effects.append(1)
        return JSONResponse({"count": len(effects)})

    return Starlette(routes=[Route("/bump", bump, methods=["POST"])]), effects


async def _statuses(app: FaultMiddleware, n: int) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        return [(await client.post("/bump")).status_code for _ in range(n)]


async def test_same_seed_injects_the_same_faults() -> None:
    config = FaultConfig(error_rate=0.3, throttle_rate=0.2)
    first = await _statuses(FaultMiddleware(_counter_app()[0], config, seed=7), 40)
    second = await _statuses(FaultMiddleware(_counter_app()[0], config, seed=7), 40)
    assert first == second
    assert {500, 429, 200} <= set(first)


async def test_quiet_config_injects_nothing() -> None:
    statuses = await _statuses(FaultMiddleware(_counter_app()[0], FaultConfig(), seed=1), 20)
    assert statuses == [200] * 20


async def test_throttle_answer_carries_retry_after() -> None:
    app = FaultMiddleware(_counter_app()[0], FaultConfig(throttle_rate=1.0, retry_after_s=7))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as client:
        response = await client.post("/bump")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


async def test_lost_reply_takes_effect_but_answers_502() -> None:
    inner, effects = _counter_app()
    app = FaultMiddleware(inner)
    app.force(FaultKind.LOST_REPLY)
    statuses = await _statuses(app, 2)
    assert statuses == [502, 200]
    assert len(effects) == 2


async def test_forced_error_does_not_reach_the_app() -> None:
    inner, effects = _counter_app()
    app = FaultMiddleware(inner)
    app.force(FaultKind.ERROR)
    assert await _statuses(app, 1) == [500]
    assert effects == []


async def test_path_prefix_limits_faults_to_matching_paths() -> None:
    app = FaultMiddleware(_counter_app()[0], FaultConfig(error_rate=1.0, path_prefix="/other"))
    assert await _statuses(app, 3) == [200, 200, 200]


def test_parse_reads_name_value_items() -> None:
    config = FaultConfig.parse(["error_rate=0.1", "retry-after-s=3", "path_prefix=/services"])
    assert config == FaultConfig(error_rate=0.1, retry_after_s=3.0, path_prefix="/services")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("error_rate", "expected name=value"),
        ("eror_rate=0.1", "unknown name"),
        ("error_rate=lots", "is not a number"),
        ("error_rate=2", "between 0 and 1"),
        ("hang_s=999", "at most"),
    ],
)
def test_parse_refuses_bad_items_with_a_reason(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultConfig.parse([item])
