"""Batch write endpoints: many records per call, a result per record, one-by-one fallback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from erpbridge.connectors.rest import RestConnector
from erpbridge.spi.errors import AuthError, NotFoundError, RateLimitedError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from tests.connectors.rest.api import ApiState

Connect = Callable[..., RestConnector]


def _batched(connect: Connect, **batch: object) -> RestConnector:
    settings = {"path": "/customers/batch", "max_records": 3, **batch}
    return connect(
        "offset",
        objects={
            "Customer": {
                "path": "/customers",
                "item_path": "/customers/{id}",
                "item_record_path": "data",
                "stamp_field": "updated_at",
                "batch": settings,
            }
        },
    )


def _creates(count: int, bad: frozenset[int] = frozenset()) -> list[WriteOp]:
    return [
        WriteOp(
            WriteMode.CREATE,
            {"name": f"客户{i}", "email": "bad" if i in bad else f"c{i}@x"},
            idempotency_key=f"flow:{i}:v1",
            ref=str(i),
        )
        for i in range(count)
    ]


async def test_creates_go_in_batches_of_max_records_with_a_result_each(
    connect: Connect, state: ApiState
) -> None:
    results = await _batched(connect).write("Customer", _creates(7, bad=frozenset({4})))

    assert state.batch_calls == [3, 3, 1] and state.single_writes == 0
    assert [r.ref for r in results] == [str(i) for i in range(7)]
    assert [r.outcome for r in results].count(WriteOutcome.CREATED) == 6
    failed = results[4]
    assert failed.outcome is WriteOutcome.FAILED and isinstance(failed.error, ValidationError)
    assert failed.error.field == "email" and "invalid" in str(failed.error)
    created = [r.target_id for r in results if r.outcome is WriteOutcome.CREATED]
    assert all(t in state.customers for t in created) and len(set(created)) == 6


async def test_updates_go_by_batch_with_their_target_id_when_asked(
    connect: Connect, state: ApiState
) -> None:
    ops = [
        WriteOp(WriteMode.UPSERT, {"name": "改名"}, target_id="C001", ref="a"),
        WriteOp(WriteMode.UPDATE, {"name": "x"}, target_id="C999", ref="b"),
        WriteOp(WriteMode.CREATE, {"name": "新", "email": "n@x"}, ref="c"),
        WriteOp(WriteMode.DELETE, {}, target_id="C002", ref="d"),
    ]
    connector = _batched(connect, operations=["create", "update"], status_path="status")

    results = await connector.write("Customer", ops)

    assert [(r.ref, r.outcome) for r in results] == [
        ("a", WriteOutcome.UPDATED),
        ("b", WriteOutcome.FAILED),
        ("c", WriteOutcome.CREATED),
        ("d", WriteOutcome.DELETED),  # deletes are always one call each
    ]
    assert isinstance(results[1].error, NotFoundError)  # its per-record status 404
    assert state.customers["C001"]["name"] == "改名" and "C002" not in state.customers
    assert state.batch_calls == [3]


async def test_updates_go_one_by_one_when_the_batch_takes_creates_only(
    connect: Connect, state: ApiState
) -> None:
    ops = [WriteOp(WriteMode.UPDATE, {"name": "y"}, target_id="C003", ref="a")]

    (result,) = await _batched(connect).write("Customer", ops)

    assert result.outcome is WriteOutcome.UPDATED
    assert state.batch_calls == [] and state.single_writes == 1


async def test_a_missing_batch_endpoint_falls_back_to_one_call_per_record_for_good(
    connect: Connect, state: ApiState
) -> None:
    state.batch_mode = "missing"
    connector = _batched(connect)

    first = await connector.write("Customer", _creates(4))
    state.batch_mode = "ok"  # not asked again: the connection remembers
    second = await connector.write("Customer", _creates(2))

    assert [r.outcome for r in first + second] == [WriteOutcome.CREATED] * 6
    assert state.single_writes == 6 and state.batch_calls == []


async def test_a_batch_refused_whole_is_written_one_by_one_so_good_records_pass(
    connect: Connect, state: ApiState
) -> None:
    state.batch_mode = "all_or_nothing"

    results = await _batched(connect).write("Customer", _creates(3, bad=frozenset({1})))

    assert [r.outcome for r in results] == [
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
    ]
    assert isinstance(results[1].error, ValidationError) and results[1].error.field == "email"
    assert state.batch_calls == [3] and state.single_writes == 3  # refused, then one by one


async def test_a_throttled_batch_fails_each_record_with_retry_after(
    connect: Connect, state: ApiState
) -> None:
    state.batch_mode = "throttled"

    results = await _batched(connect).write("Customer", _creates(2))

    assert all(isinstance(r.error, RateLimitedError) for r in results)
    assert all(r.error.retry_after_s == 3 for r in results if isinstance(r.error, RateLimitedError))
    assert state.single_writes == 0


async def test_an_answer_that_does_not_match_the_records_fails_them_clearly(
    connect: Connect, state: ApiState
) -> None:
    state.batch_mode = "short"

    results = await _batched(connect).write("Customer", _creates(3))

    assert {r.outcome for r in results} == {WriteOutcome.FAILED}
    error = results[0].error
    assert isinstance(error, ValidationError)
    assert "2 results at result_path 'results' for 3 records" in str(error)


async def test_a_batch_answer_without_results_is_explained(
    connect: Connect, state: ApiState
) -> None:
    results = await _batched(connect, result_path="data.items").write("Customer", _creates(1))

    assert "no list at result_path 'data.items'" in str(results[0].error)


async def test_auth_failure_on_a_batch_stops_the_write(connect: Connect, state: ApiState) -> None:
    state.auth = "bearer"

    with pytest.raises(AuthError):
        await _batched(connect).write("Customer", _creates(2))


def test_batch_settings_are_checked_at_load(connect: Connect) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="at least one of create, update"):
        _batched(connect, operations=[])
    with pytest.raises(pydantic.ValidationError, match="max_records"):
        _batched(connect, max_records=0)
