"""A small JSON REST API for the rest connector's tests (Starlette, in-process over ASGI).

It pages by offset, page number, cursor token or Link header (chosen by the test),
filters by ``updated_since``, checks one of four kinds of credentials, and can be told
to answer 429, 422 or 500, or to ignore the change filter.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class ApiState:
    """Customers plus the knobs a test turns."""

    auth: str = "none"  # none | basic | bearer | api_key | oauth2
    customers: dict[str, dict[str, object]] = field(default_factory=dict)
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    fail_next: list[int] = field(default_factory=list)
    ignore_filter: bool = False
    idempotency_keys: dict[str, str] = field(default_factory=dict)
    next_id: int = 1000
    #: the batch endpoint: ok | missing (404) | all_or_nothing (422 if any record is bad)
    #: | short (one result too few) | throttled (429)
    batch_mode: str = "ok"
    batch_calls: list[int] = field(default_factory=list)  # records per batch call
    single_writes: int = 0

    def seed(self, count: int, same_stamp_every: int = 1) -> None:
        for n in range(count):
            stamp = T0 + timedelta(minutes=n // same_stamp_every)
            self.customers[f"C{n:03d}"] = {
                "id": f"C{n:03d}",
                "name": f"客户{n}",
                "email": f"c{n}@example.com",
                "updated_at": stamp.isoformat().replace("+00:00", "Z"),
            }


def build_api(state: ApiState) -> Starlette:
    """The ASGI app over ``state``."""

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if state.auth == "basic":
            return header == "Basic " + base64.b64encode(b"erp:pw-basic-123").decode()
        if state.auth == "bearer":
            return header == "Bearer tok-static-456"
        if state.auth == "api_key":
            return request.headers.get("x-api-key") == "key-789"
        if state.auth == "oauth2":
            return header.removeprefix("Bearer ") in state.valid_tokens
        return True

    def guard(request: Request) -> Response | None:
        if not authorised(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if state.fail_next:
            status = state.fail_next.pop(0)
            if status == 429:
                return JSONResponse({"error": "slow down"}, 429, headers={"Retry-After": "7"})
            if status == 422:
                return JSONResponse({"errors": [{"field": "email", "message": "invalid"}]}, 422)
            return JSONResponse({"error": f"boom {status}"}, status_code=status)
        return None

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != ("cid", "csecret-0123"):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        state.tokens_issued += 1
        value = f"oauth-{state.tokens_issued}"
        state.valid_tokens = {value}
        return JSONResponse({"access_token": value, "token_type": "Bearer", "expires_in": 3600})

    async def customers(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        if request.method == "POST":
            state.single_writes += 1
            body = json.loads(await request.body())
            if body.get("email") == "bad":
                return JSONResponse({"errors": [{"field": "email", "message": "invalid"}]}, 422)
            key = request.headers.get("idempotency-key")
            if key and key in state.idempotency_keys:
                return JSONResponse(state.customers[state.idempotency_keys[key]], 200)
            state.next_id += 1
            new_id = f"N{state.next_id}"
            state.customers[new_id] = {**body, "id": new_id, "updated_at": T0.isoformat()}
            if key:
                state.idempotency_keys[key] = new_id
            return JSONResponse(state.customers[new_id], 201)
        q = request.query_params
        rows = sorted(
            state.customers.values(), key=lambda c: (str(c["updated_at"]), str(c.get("id")))
        )
        if (since := q.get("updated_since")) and not state.ignore_filter:
            limit_at = datetime.fromisoformat(since)
            rows = [r for r in rows if _stamp(r) >= limit_at]
        if email := q.get("email"):
            rows = [r for r in rows if r["email"] == email]
        return _paged(request, rows)

    async def customer(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        cid = request.path_params["id"]
        if cid not in state.customers:
            return JSONResponse({"error": "not found"}, status_code=404)
        if request.method == "DELETE":
            del state.customers[cid]
            return Response(status_code=204)
        if request.method == "PATCH":
            state.single_writes += 1
            state.customers[cid].update(json.loads(await request.body()))
        return JSONResponse({"data": state.customers[cid]})

    async def batch(request: Request) -> Response:
        """POST {"records": [...]}: creates (no id) and updates (id), one result each."""
        if (refused := guard(request)) is not None:
            return refused
        if state.batch_mode == "missing":
            return JSONResponse({"error": "no route"}, status_code=404)
        if state.batch_mode == "throttled":
            return JSONResponse({"error": "slow down"}, 429, headers={"Retry-After": "3"})
        records = json.loads(await request.body())["records"]
        state.batch_calls.append(len(records))
        bad = [r.get("email") == "bad" for r in records]
        if state.batch_mode == "all_or_nothing" and any(bad):
            return JSONResponse({"error": "record 1 is invalid; nothing was written"}, 422)
        results: list[dict[str, object]] = []
        for record, is_bad in zip(records, bad, strict=True):
            if is_bad:
                results.append({"id": None, "error": {"field": "email", "message": "invalid"}})
            elif record.get("id") in state.customers:
                state.customers[str(record["id"])].update(record)
                results.append({"id": record["id"], "error": None})
            elif record.get("id"):
                results.append({"id": record["id"], "error": "not found", "status": 404})
            else:
                state.next_id += 1
                new_id = f"N{state.next_id}"
                state.customers[new_id] = {**record, "id": new_id, "updated_at": T0.isoformat()}
                results.append({"id": new_id, "error": None})
        if state.batch_mode == "short":
            results = results[:-1]
        return JSONResponse({"results": results})

    def _paged(request: Request, rows: list[dict[str, object]]) -> Response:
        q = request.query_params
        if "offset" in q:
            start, size = int(q["offset"]), int(q["limit"])
            return JSONResponse({"data": rows[start : start + size]})
        if "page" in q:
            size = int(q["per_page"])
            start = (int(q["page"]) - 1) * size
            return JSONResponse({"data": rows[start : start + size]})
        if "limit" in q and request.url.path.endswith("/by-cursor"):
            start, size = int(q.get("cursor", "0")), int(q["limit"])
            chunk = rows[start : start + size]
            more = start + size < len(rows)
            return JSONResponse(
                {"data": chunk, "meta": {"next": str(start + size) if more else None}}
            )
        if "limit" in q:
            start, size = int(q.get("start", "0")), int(q["limit"])
            chunk = rows[start : start + size]
            headers = {}
            if start + size < len(rows):
                url = request.url.include_query_params(start=start + size)
                headers["Link"] = f'<{url}>; rel="next"'
            return JSONResponse({"data": chunk}, headers=headers)
        return JSONResponse({"data": rows})

    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/customers", customers, methods=["GET", "POST"]),
            Route("/customers/by-cursor", customers, methods=["GET"]),
            Route("/customers/batch", batch, methods=["POST"]),
            Route("/customers/{id}", customer, methods=["GET", "PATCH", "DELETE"]),
        ]
    )


def _stamp(row: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(row["updated_at"]).replace("Z", "+00:00"))
