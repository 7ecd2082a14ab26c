"""End to end: the jdy-yonbip template between the Jiandaoyun and YonBIP simulators.

Records are made through each system's own API (the connectors' writes; YonBIP's audit
and 停用 through its open API with plain httpx and a signed token), flows are driven
with the engine, and every outcome is read back through the systems' APIs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import cast

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from typer.testing import CliRunner

from erpbridge.api.app import create_app
from erpbridge.cli.main import app as cli_app
from erpbridge.engine.hold_recheck import recheck_held
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.scheduler import Scheduler
from erpbridge.sims._common.faults import FaultConfig, FaultKind
from erpbridge.sims._common.server import serve_app
from erpbridge.spi.errors import RateLimitedError
from erpbridge.store.schema import dead_letters, jobs, runs, xref
from tests.flows.harness import Bridge, close, running_template

pytestmark = pytest.mark.slow

SYSTEMS = ("jiandaoyun", "yonbip")
CUSTOMER = "6405f3a1c2b4d50007a10001"
ORDER = "6405f3a1c2b4d50007a10003"
TICKET = "6405f3a1c2b4d50007a10004"
STOCK = "6405f3a1c2b4d50007a10005"
TEMPLATE = "jdy-yonbip"

Lines = list[dict[str, object]]


def w(n: int) -> str:
    """The sandbox widget id number ``n`` (``_widget_1615777000101`` for 101)."""
    return f"_widget_16157770{n:05d}"


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def _jdy_customer(bridge: Bridge, code: str, name: str) -> str:
    return await bridge.create(
        "jdy",
        CUSTOMER,
        {
            w(101): code,
            w(102): name,
            w(103): "91310115ma1k4xyz5l",
            w(104): {"phone": "13812345678"},
            w(105): {
                "province": "上海市",
                "city": "上海市",
                "district": "浦东新区",
                "detail": "张江路88号",
            },
            w(106): "lina",
            w(107): "人民币",
            w(108): "正常",
        },
    )


def _line(code: str, qty: object, price: object, rate: object = 0.13) -> dict[str, object]:
    delivery = datetime(2026, 12, 10, 16, 30, tzinfo=UTC)  # 2026-12-11 in Shanghai
    return {
        w(351): code,
        w(352): code,
        w(353): qty,
        w(354): price,
        w(355): rate,
        w(357): _utc(delivery),
    }


async def _jdy_order(
    bridge: Bridge, number: str, customer_code: str, lines: Lines | None = None
) -> str:
    lines = lines or [_line("M-1001", 3, 1250), _line("M-1004", 10, 380.5)]
    return await bridge.create(
        "jdy",
        ORDER,
        {
            w(301): number,
            w(302): _utc(datetime(2026, 11, 30, 17, 5, 9, tzinfo=UTC)),  # 12-01 01:05:09 +8
            w(303): customer_code,
            w(304): "人民币",
            w(305): lines,
            w(306): 3 * 1250 + 10 * 380.5,
            w(307): "wangfang",
        },
    )


async def _bip(
    bridge: Bridge, api: str, body: dict[str, object], *, ok: bool = True
) -> dict[str, object]:
    """One YonBIP open-API call as a self-built app makes it: signed token, then the API.

    ``/sim/…`` paths are the simulator's controls (what a person does in YonBIP's UI:
    set a credit limit, deliver an order), served beside the gateway.
    """
    entry = bridge.sims["yonbip"].entry
    timestamp = str(int(time.time() * 1000))
    message = f"appKey{entry['app_key']}timestamp{timestamp}"
    digest = hmac.new(str(entry["app_secret"]).encode(), message.encode(), hashlib.sha256)
    async with httpx.AsyncClient(timeout=30) as http:
        token = await http.get(
            f"{entry['token_url']}/open-auth/selfAppAuth/getAccessToken",
            params={
                "appKey": str(entry["app_key"]),
                "timestamp": timestamp,
                "signature": base64.b64encode(digest.digest()).decode(),
            },
        )
        access_token = token.json()["data"]["access_token"]
        gateway = str(entry["gateway_url"])
        base = gateway.removesuffix("/iuap-api-gateway") if api.startswith("/sim/") else gateway
        answer = await http.post(f"{base}{api}", params={"access_token": access_token}, json=body)
    result = cast(dict[str, object], answer.json())
    if ok:
        assert result["code"] == "200", answer.text
        data = result.get("data")
        if isinstance(data, dict) and "failCount" in data:
            assert data["failCount"] == 0, answer.text
    return result


async def _one(
    bridge: Bridge, connection: str, obj: str, key: str, value: str
) -> dict[str, object]:
    found = await bridge.find(connection, obj, key, [value])
    assert len(found) == 1, f"{connection}:{obj} {key}={value}: {len(found)} records"
    return dict(found[0].fields, _id=found[0].id)


def _tag() -> str:
    return uuid.uuid4().hex[:6].upper()


async def test_order_and_its_new_customer_reach_yonbip_and_status_comes_back(
    tmp_path: Path,
) -> None:
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            started = datetime.now(UTC) - timedelta(seconds=2)
            tag = _tag()
            code, number = f"E2E-{tag}", f"SOE2E{tag}"
            customer = await _jdy_customer(bridge, code, f"苏州 E2E 精密机械有限公司 {tag}")
            order = await _jdy_order(bridge, number, code)
            # Only the order is synced: it names its customer by 客户编号, waits for it,
            # and the customer is synced first (xref by natural key).
            await bridge.sync("orders-to-yonbip", ids=[order])

            merchant = await _one(bridge, "bip", "merchant", "code", code)
            assert merchant["name"] == {"zh_CN": f"苏州 E2E 精密机械有限公司 {tag}"}
            assert (merchant["contactTel"], merchant["creditCode"]) == (
                "13812345678",
                "91310115MA1K4XYZ5L",
            )
            assert merchant["address"] == "上海市上海市浦东新区张江路88号"
            assert (merchant["createOrgCode"], merchant["customerClassCode"]) == ("991", "02")

            bill = await _one(bridge, "bip", "voucherorder", "code", number)
            assert (bill["agentId"], bill["agentId_code"]) == (merchant["id"], code)
            assert bill["vouchdate"] == "2026-12-01 01:05:09"  # UTC → China local time
            assert (bill["orderPrices!currency"], bill["orderPrices!taxInclusive"]) == (
                "CNY",
                True,
            )
            assert bill["status"] == 0 and Decimal(str(bill["payMoney"])) == Decimal(7555)
            lines = sorted(
                (
                    str(line["productId_code"]),
                    Decimal(str(line["qty"])),
                    Decimal(str(line["oriTaxUnitPrice"])),
                    Decimal(str(line["oriSum"])),
                    Decimal(str(line["orderDetailPrices!oriMoney"])),
                    Decimal(str(line["orderDetailPrices!oriTax"])),
                    line["taxId"],
                    line["hopeReceiveDate"],
                )
                for line in cast(Lines, bill["orderDetails"])
            )
            assert lines == [
                ("WL00001", 3, 1250, 3750, Decimal("3318.58"), Decimal("431.42"), "VAT13", "2026-12-11"),
                ("WL00010", 10, Decimal("380.5"), 3805, Decimal("3367.26"), Decimal("437.74"), "VAT13", "2026-12-11"),
            ]  # fmt: skip

            # Reconciliation: what each mapping expects is what YonBIP holds.
            for flow in ("customers-to-yonbip", "orders-to-yonbip"):
                assert await bridge.recon(flow, since=started) == [], flow
            report = await bridge.validate_online(tmp_path)
            assert (report["ok"], report["errors"], report["warnings"]) == (True, [], [])

            # Back to 简道云: number and status, then YonBIP audits the order.
            await bridge.sync("customers-from-yonbip", ids=[str(merchant["_id"])])
            record = await bridge.get("jdy", CUSTOMER, customer)
            assert (record.fields[w(110)], record.fields[w(108)]) == (code, "正常")
            await bridge.sync("orders-from-yonbip", ids=[str(bill["_id"])])
            jdy_order = await bridge.get("jdy", ORDER, order)
            assert (jdy_order.fields[w(308)], jdy_order.fields[w(309)]) == (number, "开立")
            await _bip(
                bridge, "/yonbip/sd/voucherorder/batchaudit", {"data": [{"id": bill["_id"]}]}
            )
            await bridge.sync("orders-from-yonbip", ids=[str(bill["_id"])])
            jdy_order = await bridge.get("jdy", ORDER, order)
            assert jdy_order.fields[w(309)] == "已审核"

            # Our writes onto 简道云, polled back, send nothing to YonBIP again.
            await bridge.sync("orders-to-yonbip", ids=[order], trigger=Trigger.POLL)
            await bridge.sync("customers-to-yonbip", ids=[customer], trigger=Trigger.POLL)
            assert bridge.outcomes("orders-to-yonbip")[-1][1] in ("echo", "unchanged")
            assert bridge.outcomes("customers-to-yonbip")[-1][1] in ("echo", "unchanged")

            # Exactly once, also from an empty store (no xref): the keys find the records.
            fresh = bridge.fork(tmp_path / "fresh.db")
            try:
                await fresh.sync("customers-to-yonbip", ids=[customer])
                # The order is audited in YonBIP by now: un-audited, saved, audited again.
                await fresh.sync("orders-to-yonbip", ids=[order])
                assert fresh.dead_letters() == []
            finally:
                await close(fresh)
                fresh.store.dispose()
            await _one(bridge, "bip", "merchant", "code", code)
            bill = await _one(bridge, "bip", "voucherorder", "code", number)
            assert len(cast(Lines, bill["orderDetails"])) == 2 and bill["status"] == 1
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_stopped_customer_and_stock_come_to_jdy(tmp_path: Path) -> None:
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            code = f"K-{tag}"
            customer = await _jdy_customer(bridge, code, f"杭州 E2E 贸易有限公司 {tag}")
            await bridge.sync("customers-to-yonbip", ids=[customer])
            merchant = await _one(bridge, "bip", "merchant", "code", code)
            await _bip(
                bridge,
                "/yonbip/digitalModel/batch/merchant/save",
                {"data": [{"_status": "Update", "id": merchant["id"], "stopstatus": True}]},
            )
            await bridge.sync("customers-from-yonbip", ids=[str(merchant["_id"])])
            record = await bridge.get("jdy", CUSTOMER, customer)
            assert (record.fields[w(110)], record.fields[w(108)]) == (code, "冻结")

            # 现存量 of WL00001 (简道云 M-1001) in the finished-goods warehouse CK01.
            await bridge.sync("inventory-from-yonbip")
            rows = await bridge.find("bip", "currentstock", "productCode", ["WL00001"])
            [row] = [r.fields for r in rows if r.fields["warehouse"] == "CK01"]
            stock = [
                r.fields
                for r in await bridge.find("jdy", STOCK, "mat_code", ["M-1001"])
                if r.fields["warehouse"] == "成品仓"
            ]
            assert len(stock) == 1
            assert Decimal(str(stock[0]["on_hand"])) == Decimal(str(row["currentqty"]))
            assert Decimal(str(stock[0]["available"])) == Decimal(str(row["availableqty"]))
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def _sync_patiently(bridge: Bridge, flow: str, ids: list[str]) -> None:
    """``bridge.sync``, and once more a second later when the source's reads are throttled
    (简道云 allows 30 a second; a fast machine and injected 8303s can spend them all)."""
    for attempt in range(1, 4):
        try:
            await bridge.sync(flow, ids=ids)
            return
        except RateLimitedError:
            if attempt == 3:
                raise
            await asyncio.sleep(1.1)


def _faults(bridge: Bridge, *, on: bool) -> None:
    bip = (
        FaultConfig(error_rate=0.1, throttle_rate=0.1, lost_reply_rate=0.1) if on else FaultConfig()
    )
    jdy = (
        FaultConfig(error_rate=0.1, throttle_rate=0.05, lost_reply_rate=0.1)
        if on
        else FaultConfig()
    )
    bridge.sims["yonbip"].app.configure(bip)  # type: ignore[attr-defined]
    bridge.sims["jiandaoyun"].app.configure(jdy)  # type: ignore[attr-defined]


async def test_orders_reach_yonbip_exactly_once_through_faults(tmp_path: Path) -> None:
    """YonBIP fails (500), throttles (310046) and loses answers to saves it made; the
    resubmitCheckKey and the key lookups keep every record single."""
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            numbers = [f"SOF{tag}{n}" for n in range(6)]
            orders = []
            for n, number in enumerate(numbers):
                await _jdy_customer(bridge, f"F-{tag}{n}", f"无锡 E2E 机电有限公司 {tag}{n}")
                orders.append(await _jdy_order(bridge, number, f"F-{tag}{n}"))
            _faults(bridge, on=True)
            for _ in range(2):  # each order as its push would bring it, twice
                for order in orders:
                    await _sync_patiently(bridge, "orders-to-yonbip", [order])
            _faults(bridge, on=False)
            bills = [await _one(bridge, "bip", "voucherorder", "code", n) for n in numbers]
            _faults(bridge, on=True)
            for bill in bills:  # as polls would bring them, one read at a time
                await _sync_patiently(bridge, "orders-from-yonbip", [str(bill["_id"])])
            _faults(bridge, on=False)
            await asyncio.sleep(1.1)  # 简道云's 30 reads a second: let the run's burst pass

            for n, order in enumerate(orders):
                await _one(bridge, "bip", "merchant", "code", f"F-{tag}{n}")
                bill = await _one(bridge, "bip", "voucherorder", "code", numbers[n])
                assert len(cast(Lines, bill["orderDetails"])) == 2
                jdy_order = await bridge.get("jdy", ORDER, order)
                assert (jdy_order.fields[w(308)], jdy_order.fields[w(309)]) == (numbers[n], "开立")
            assert bridge.dead_letters() == []
            failed = bridge.failed_attempts()  # the faults did hit the writes
            assert failed.get("transient", 0) >= 1 and failed.get("rate_limited", 0) >= 1, failed
        finally:
            await close(bridge)


async def test_bad_orders_are_one_clear_dead_letter_each(tmp_path: Path) -> None:
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            code = f"B-{tag}"
            await _jdy_customer(bridge, code, f"南京 E2E 设备有限公司 {tag}")
            # A material with no YonBIP counterpart, a tax rate the value table lacks,
            # and a price YonBIP refuses (its amounts are decimal(28, 8)).
            no_material = await _jdy_order(bridge, f"SOM{tag}", code, [_line("M-9999", 1, 10)])
            no_tax = await _jdy_order(bridge, f"SOT{tag}", code, [_line("M-1001", 1, 10, 0.17)])
            refused = await _jdy_order(bridge, f"SOR{tag}", code, [_line("M-1001", 1, 10**16)])
            await bridge.sync("orders-to-yonbip", ids=[no_material, no_tax, refused])

            dead = {record: message for _, record, message in bridge.dead_letters()}
            assert set(dead) == {no_material, no_tax, refused}
            assert "M-9999" in dead[no_material] and "material_unit" in dead[no_material]
            assert "0.17" in dead[no_tax] and "tax_code" in dead[no_tax]
            assert "超出范围" in dead[refused]  # YonBIP's own words
            with bridge.store.connect() as conn:
                rows = conn.execute(
                    sa.select(
                        dead_letters.c.source_id, dead_letters.c.error_class, dead_letters.c.hint
                    )
                ).all()
            classes = {str(s): (str(c), str(h)) for s, c, h in rows}
            assert classes[no_material][0] == classes[no_tax][0] == "mapping"
            assert classes[refused][0] == "validation" and "replay" in classes[refused][1]
            assert all("replay" in hint for _, hint in classes.values())
            for number in (f"SOM{tag}", f"SOT{tag}", f"SOR{tag}"):
                assert await bridge.find("bip", "voucherorder", "code", [number]) == []
            # The customer did sync (the orders waited for it), exactly once.
            await _one(bridge, "bip", "merchant", "code", code)
        finally:
            await close(bridge)


async def test_validate_online_names_a_wrong_key_field_where_it_is(tmp_path: Path) -> None:
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            path = tmp_path / "erpbridge.yaml"
            text = path.read_text(encoding="utf-8")
            path.write_text(
                text.replace(
                    'by="_widget_1615777000101")   # 客户编号', 'by="_widget_161577700101")'
                ),
                encoding="utf-8",
            )
            report = await bridge.validate_online(tmp_path)
            [error] = report["errors"]
            line = next(
                n
                for n, row in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if 'by="_widget_161577700101"' in row
            )
            assert error["line"] == line and error["column"] > 1, error
            assert error["field"] == "flows.orders-to-yonbip.map.agentId"
            assert "has no field '_widget_161577700101' to find it by" in error["reason"]
            assert "did you mean '_widget_1615777000101'" in error["reason"]
        finally:
            await close(bridge)


async def test_pushed_order_for_a_new_customer_brings_the_customer_first(tmp_path: Path) -> None:
    """数据推送: 简道云 signs and POSTs a new 销售订单 to the hub's /hooks/jdy; the order
    names a customer YonBIP does not have yet, which is synced before it."""
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            entry = bridge.sims["jiandaoyun"].entry
            tag = _tag()
            code, number = f"P-{tag}", f"SOP{tag}"
            customer = await _jdy_customer(bridge, code, f"推送测试有限公司 {tag}")  # not pushed
            receiver = bridge.fork_runtime()
            with serve_app(create_app(receiver.hub)) as hub_server:
                async with httpx.AsyncClient(
                    base_url=str(entry["base_url"]),
                    headers={"Authorization": f"Bearer {entry['api_key']}"},
                    timeout=30,
                ) as jdy:
                    target = await jdy.post(
                        "/sim/push", json={"url": f"{hub_server.base_url}/hooks/jdy"}
                    )
                    target.raise_for_status()
                    line = {k: {"value": v} for k, v in _line("M-1001", 2, 1250).items()}
                    created = await jdy.post(
                        "/api/v5/app/entry/data/create",
                        json={
                            "app_id": entry["app_id"],
                            "entry_id": ORDER,
                            "data": {
                                w(301): {"value": number},
                                w(302): {"value": _utc(datetime.now(UTC))},
                                w(303): {"value": code},
                                w(304): {"value": "人民币"},
                                w(305): {"value": [line]},
                            },
                        },
                    )
                    created.raise_for_status()
                    for _ in range(100):  # the push is delivered asynchronously
                        if bridge.open_jobs():
                            break
                        await asyncio.sleep(0.1)
            assert [f for f, _, _ in bridge.open_jobs()] == ["orders-to-yonbip"]
            await bridge.drain()
            merchant = await _one(bridge, "bip", "merchant", "code", code)
            bill = await _one(bridge, "bip", "voucherorder", "code", number)
            assert bill["agentId"] == merchant["id"]
            assert Decimal(str(bill["payMoney"])) == Decimal(2500)
            order = str(created.json()["data"]["_id"])
            assert bridge.outcomes("customers-to-yonbip") == [(customer, "created")]
            assert bridge.outcomes("orders-to-yonbip") == [(order, "created")]
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_preview_resolves_customers_by_code_without_writing(tmp_path: Path) -> None:
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            customer = await _jdy_customer(bridge, f"V-{tag}", f"预览测试有限公司 {tag}")
            await bridge.sync("customers-to-yonbip", ids=[customer])
            merchant = await _one(bridge, "bip", "merchant", "code", f"V-{tag}")
            order = {
                w(301): f"SOV{tag}",
                w(302): _utc(datetime(2026, 11, 30, 17, 5, 9, tzinfo=UTC)),
                w(303): f"V-{tag}",
                w(304): "人民币",
                w(305): [_line("M-1001", 2, 100)],
                "flowState": 1,
            }
            unknown = {**order, w(301): f"SOW{tag}", w(303): f"NOPE-{tag}"}
            sample = tmp_path / "orders.json"
            sample.write_text(json.dumps([order, unknown], ensure_ascii=False), encoding="utf-8")
            result = await asyncio.to_thread(
                CliRunner().invoke,
                cli_app,
                ["preview", "orders-to-yonbip", "-p", str(tmp_path), "-f", str(sample), "--json"],
            )
            assert result.exit_code == 0, result.output
            known, missing = json.loads(result.stdout)
            assert known["ok"] and known["target"]["agentId"] == str(merchant["id"])
            assert not missing["ok"]
            # agentId and invoiceAgentId both name it
            assert {tuple(r) for r in missing["missing_references"]} == {
                ("customer", f"NOPE-{tag}")
            }
            assert await bridge.find("bip", "voucherorder", "code", [f"SOV{tag}"]) == []
        finally:
            await close(bridge)


async def test_crm_edits_update_the_yonbip_customer_and_open_order(tmp_path: Path) -> None:
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            code, number = f"U-{tag}", f"SOU{tag}"
            customer = await _jdy_customer(bridge, code, f"旧名称 {tag}")
            order = await _jdy_order(bridge, number, code)
            await bridge.sync("orders-to-yonbip", ids=[order])
            before = await _one(bridge, "bip", "voucherorder", "code", number)

            await bridge.update("jdy", CUSTOMER, customer, {w(102): f"新名称 {tag}"})
            record = await bridge.get("jdy", ORDER, order)
            lines = [dict(line) for line in cast(Lines, record.fields[w(305)])]
            lines[0][w(353)] = 5  # 3 → 5 伺服电机
            await bridge.update("jdy", ORDER, order, {w(305): lines})
            await bridge.sync("customers-to-yonbip", ids=[customer], trigger=Trigger.POLL)
            await bridge.sync("orders-to-yonbip", ids=[order], trigger=Trigger.POLL)

            merchant = await _one(bridge, "bip", "merchant", "code", code)
            assert merchant["name"] == {"zh_CN": f"新名称 {tag}"}
            bill = await _one(bridge, "bip", "voucherorder", "code", number)
            assert bill["_id"] == before["_id"]  # the same order, updated
            qty = {str(x["productId_code"]): x["qty"] for x in cast(Lines, bill["orderDetails"])}
            assert qty == {"WL00001": 5, "WL00010": 10}
            assert Decimal(str(bill["payMoney"])) == Decimal(5 * 1250 + 3805)
            assert [o for _, o in bridge.outcomes("orders-to-yonbip")][-1] == "updated"
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_lost_answers_to_saves_make_no_second_customer_or_order(tmp_path: Path) -> None:
    """YonBIP saves the customer and the order, and both answers are lost (a 502 from its
    gateway): the retries find them by code and resend the same resubmitCheckKey."""
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            code, number = f"L-{tag}", f"SOL{tag}"
            customer = await _jdy_customer(bridge, code, f"丢失应答测试有限公司 {tag}")
            order = await _jdy_order(bridge, number, code)
            app = bridge.sims["yonbip"].app
            for flow, record, api in (
                ("customers-to-yonbip", customer, "digitalModel/merchant/idempotent/newinsert"),
                ("orders-to-yonbip", order, "sd/voucherorder/singleSave"),
            ):
                app.configure(FaultConfig(path_prefix=f"/iuap-api-gateway/yonbip/{api}"))  # type: ignore[attr-defined]
                app.force(FaultKind.LOST_REPLY)  # type: ignore[attr-defined]
                await bridge.sync(flow, ids=[record])
            app.configure(FaultConfig())  # type: ignore[attr-defined]

            merchant = await _one(bridge, "bip", "merchant", "code", code)
            bill = await _one(bridge, "bip", "voucherorder", "code", number)
            assert bill["agentId"] == merchant["id"]
            assert len(cast(Lines, bill["orderDetails"])) == 2
            assert bridge.dead_letters() == []
            assert bridge.failed_attempts().get("transient", 0) == 2  # the two lost answers
        finally:
            await close(bridge)


async def _credit_to_jdy(bridge: Bridge, code: str) -> dict[str, object]:
    """credit-from-yonbip for one customer's credit record, as its poll would bring it."""
    credit = await _one(bridge, "bip", "credit", "customerCode", code)
    await bridge.sync("credit-from-yonbip", ids=[str(credit["_id"])], trigger=Trigger.POLL)
    return credit


def _held(bridge: Bridge, flow: str) -> list[tuple[str, str]]:
    with bridge.store.connect() as conn:
        rows = conn.execute(
            sa.select(jobs.c.source_id, jobs.c.hold_reason).where(
                jobs.c.flow == flow, jobs.c.state == "held"
            )
        ).all()
    return [(str(s), str(r)) for s, r in rows]


async def test_credit_comes_to_jdy_and_orders_over_it_are_held_until_credit_frees_up(
    tmp_path: Path,
) -> None:
    """信用: YonBIP's credit (the stand-in projection) fills the 简道云 客户; an order over
    the 可用额度 is held and flagged, and goes when an audited order is un-audited in
    YonBIP (credit frees up, seen at the recheck) or when credit control approves it."""
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            code = f"CR-{tag}"
            customer = await _jdy_customer(bridge, code, f"宁波 E2E 信用测试有限公司 {tag}")
            await bridge.sync("customers-to-yonbip", ids=[customer])
            # Credit control sets the limit in YonBIP (simulator control: YonBIP's own UI).
            await _bip(bridge, "/sim/credit", {"customer": code, "creditLimit": 10000})

            # The first order (7555 元) reaches YonBIP and is audited there: YonBIP's credit
            # used grows and comes back to 简道云. (Credit is synced from here on only: the
            # credit record returns to this very content below, maybe within its one-second
            # pubts, and would then be the same version as a sync made now.)
            first = await _jdy_order(bridge, f"SOC{tag}1", code)
            await bridge.sync("orders-to-yonbip", ids=[first])
            bill = await _one(bridge, "bip", "voucherorder", "code", f"SOC{tag}1")
            await _bip(
                bridge, "/yonbip/sd/voucherorder/batchaudit", {"data": [{"id": bill["_id"]}]}
            )
            credit = await _credit_to_jdy(bridge, code)
            assert (credit["creditUsed"], credit["creditAvailable"]) == (7555, 2445)
            fields = (await bridge.get("jdy", CUSTOMER, customer)).fields
            assert [Decimal(str(fields[w(n)])) for n in (109, 114, 113)] == [10000, 7555, 2445]

            # The second order is over the 2445 元 left: held, flagged, not in YonBIP.
            second = await _jdy_order(bridge, f"SOC{tag}2", code)
            await bridge.sync("orders-to-yonbip", ids=[second])
            reason = "超出可用信用额度: 订单 7555.00 元, 可用 2445.00 元"
            assert _held(bridge, "orders-to-yonbip") == [(second, reason)]
            fields = (await bridge.get("jdy", ORDER, second)).fields
            assert (fields[w(311)], fields[w(312)]) == ("是", reason)
            assert await bridge.find("bip", "voucherorder", "code", [f"SOC{tag}2"]) == []
            # Its flag, polled back, is held again without another write.
            await bridge.sync("orders-to-yonbip", ids=[second], trigger=Trigger.POLL)
            assert [s for s, _ in _held(bridge, "orders-to-yonbip")] == [second]

            # Credit frees up: the first order is un-audited in YonBIP. The next credit
            # sync writes the new 可用额度, the recheck (every 10 minutes) lets it go.
            await _bip(
                bridge, "/yonbip/sd/voucherorder/batchunaudit", {"data": [{"id": bill["_id"]}]}
            )
            await _credit_to_jdy(bridge, code)
            fields = (await bridge.get("jdy", CUSTOMER, customer)).fields
            assert [Decimal(str(fields[w(n)])) for n in (109, 114, 113)] == [10000, 0, 10000]
            bridge.clock.advance(601)
            checked = await recheck_held(bridge.store, bridge.runtime, bridge.plans, bridge.clock)
            assert (checked.released, checked.held) == (1, 0)
            await bridge.drain()
            released = await _one(bridge, "bip", "voucherorder", "code", f"SOC{tag}2")
            assert released["agentId_code"] == code
            fields = (await bridge.get("jdy", ORDER, second)).fields
            assert fields[w(311)] == "否" and not fields.get(w(312))

            # A third order over the limit is approved by credit control in 简道云.
            third = await _jdy_order(
                bridge, f"SOC{tag}3", code, [_line("M-1001", 10, 1250)]
            )  # 12500 元 > 10000
            await bridge.sync("orders-to-yonbip", ids=[third])
            assert [s for s, _ in _held(bridge, "orders-to-yonbip")] == [third]
            await bridge.update("jdy", ORDER, third, {w(313): "通过"})  # 信用审批
            await bridge.sync("orders-to-yonbip", ids=[third], trigger=Trigger.POLL)
            await _one(bridge, "bip", "voucherorder", "code", f"SOC{tag}3")
            assert _held(bridge, "orders-to-yonbip") == []
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def _change_qty(bridge: Bridge, order: str, qty: int) -> None:
    record = await bridge.get("jdy", ORDER, order)
    lines = [dict(line) for line in cast(Lines, record.fields[w(305)])]
    lines[0][w(353)] = qty
    await bridge.update("jdy", ORDER, order, {w(305): lines})


async def _audited_order(bridge: Bridge, number: str, code: str) -> tuple[str, dict[str, object]]:
    """A 简道云 order sent to YonBIP, its ERP单号 back, then audited in YonBIP."""
    order = await _jdy_order(bridge, number, code)
    await bridge.sync("orders-to-yonbip", ids=[order])
    bill = await _one(bridge, "bip", "voucherorder", "code", number)
    await _bip(bridge, "/yonbip/sd/voucherorder/batchaudit", {"data": [{"id": bill["_id"]}]})
    await bridge.sync("orders-from-yonbip", ids=[str(bill["_id"])])
    return order, bill


async def test_changed_audited_order_is_reaudited_and_cancelled_one_removed(
    tmp_path: Path,
) -> None:
    """A 简道云 order changed after YonBIP audited it: un-audited, saved, audited again
    (the same order); set to 已取消: un-audited and deleted from YonBIP."""
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            code, number = f"A-{tag}", f"SOA{tag}"
            await bridge.sync(
                "customers-to-yonbip", ids=[await _jdy_customer(bridge, code, f"改单 {tag}")]
            )
            order, bill = await _audited_order(bridge, number, code)

            await _change_qty(bridge, order, 5)  # 3 → 5 伺服电机
            await bridge.sync("orders-to-yonbip", ids=[order], trigger=Trigger.POLL)
            changed = await _one(bridge, "bip", "voucherorder", "code", number)
            assert (changed["_id"], changed["status"]) == (bill["_id"], 1)  # re-audited
            qty = {str(x["productId_code"]): x["qty"] for x in cast(Lines, changed["orderDetails"])}
            assert qty == {"WL00001": 5, "WL00010": 10}
            assert Decimal(str(changed["payMoney"])) == Decimal(5 * 1250 + 3805)
            assert bridge.outcomes("orders-to-yonbip")[-1] == (order, "updated")

            await bridge.update("jdy", ORDER, order, {w(314): "已取消"})  # 订单状态
            await bridge.sync("orders-to-yonbip", ids=[order], trigger=Trigger.POLL)
            assert await bridge.find("bip", "voucherorder", "code", [number]) == []
            assert bridge.outcomes("orders-to-yonbip")[-1] == (order, "deleted")
            # Synced again (a later edit of the cancelled order): nothing more happens.
            await bridge.sync("orders-to-yonbip", ids=[order])
            assert bridge.outcomes("orders-to-yonbip")[-1] == (order, "deleted")

            # An order cancelled before it reached YonBIP is not sent at all.
            other = await _jdy_order(bridge, f"SOX{tag}", code)
            await bridge.update("jdy", ORDER, other, {w(314): "已取消"})
            await bridge.sync("orders-to-yonbip", ids=[other])
            assert bridge.outcomes("orders-to-yonbip")[-1] == (other, "filtered")
            assert await bridge.find("bip", "voucherorder", "code", [f"SOX{tag}"]) == []
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_delivered_order_change_or_cancel_is_one_dead_letter_with_a_hint(
    tmp_path: Path,
) -> None:
    """YonBIP delivered the order (发货): it refuses to un-audit it, so neither a change
    nor a cancellation can be written; each is one dead letter with YonBIP's message."""
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            code = f"D-{tag}"
            await bridge.sync(
                "customers-to-yonbip", ids=[await _jdy_customer(bridge, code, f"发货 {tag}")]
            )
            changed, bill = await _audited_order(bridge, f"SOD{tag}1", code)
            cancelled, other = await _audited_order(bridge, f"SOD{tag}2", code)
            for b in (bill, other):
                await _bip(bridge, "/sim/deliver", {"id": b["_id"]})
            await bridge.sync("orders-from-yonbip", ids=[str(bill["_id"])])
            assert (await bridge.get("jdy", ORDER, changed)).fields[w(309)] == "已发货"

            await _change_qty(bridge, changed, 5)
            await bridge.update("jdy", ORDER, cancelled, {w(314): "已取消"})
            await bridge.sync("orders-to-yonbip", ids=[changed, cancelled], trigger=Trigger.POLL)

            dead = {record: message for _, record, message in bridge.dead_letters()}
            assert set(dead) == {changed, cancelled} and len(bridge.dead_letters()) == 2
            for record in (changed, cancelled):  # YonBIP's own words, once each
                assert "已生成下游发货单（已发货），不能弃审" in dead[record]
            assert "修改没有写入用友" in dead[changed] and "不能删除" in dead[cancelled]
            hints = bridge.dead_letter_hints()
            assert all("已发货" in h and "放弃这条死信" in h for h in hints), hints
            assert bridge.failed_attempts() == {"validation": 2}  # not retried
            # YonBIP keeps both orders as they were: audited, delivered, unchanged.
            for number in (f"SOD{tag}1", f"SOD{tag}2"):
                kept = await _one(bridge, "bip", "voucherorder", "code", number)
                assert (kept["status"], kept["nextStatusName"]) == (1, "已发货")
                qty = sorted(x["qty"] for x in cast(Lines, kept["orderDetails"]))
                assert qty == [3, 10]
        finally:
            await close(bridge)


def _requisition_id(bridge: Bridge, ticket: str) -> str:
    with bridge.store.connect() as conn:
        [target] = conn.execute(
            sa.select(xref.c.target_id).where(
                xref.c.entity == "requisition", xref.c.source_id == ticket
            )
        ).scalars()
    return str(target)


async def _events_delivered(bridge: Bridge, count: int) -> list[dict[str, object]]:
    """The simulator's event deliveries, once ``count`` of them are done (bounded wait)."""
    for _ in range(100):  # events are delivered asynchronously
        answer = await _bip(bridge, "/sim/events", {})
        deliveries = cast(
            list[dict[str, object]], cast(dict[str, object], answer["data"])["deliveries"]
        )
        if sum(1 for d in deliveries if d["delivered"]) >= count:
            return deliveries
        await asyncio.sleep(0.1)
    raise AssertionError(f"events not delivered: {deliveries}")


async def test_service_ticket_becomes_a_requisition_whose_status_comes_back_by_events(
    tmp_path: Path,
) -> None:
    """售后: a 简道云 售后工单 needing parts → YonBIP 请购单; YonBIP's event subscription
    (encrypted, signed POSTs to the hub's /hooks/bip) brings its number and status back."""
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            tag = _tag()
            ticket = await bridge.create(
                "jdy",
                TICKET,
                {
                    w(401): f"SR{tag}",
                    w(402): "KH0001",
                    w(403): "伺服电机过热停机",
                    w(404): "高",
                    w(406): _utc(datetime(2026, 11, 30, 17, 5, 9, tzinfo=UTC)),
                    w(407): [{w(451): "M-1002", w(452): 2}, {w(451): "M-1001", w(452): 1}],
                    w(408): "处理中",
                },
            )
            receiver = bridge.fork_runtime()
            with serve_app(create_app(receiver.hub)) as hub_server:
                # 事件订阅 of the self-built app → the hub (YonBIP's own UI; a control here).
                await _bip(bridge, "/sim/events", {"url": f"{hub_server.base_url}/hooks/bip"})
                await bridge.sync("requisitions-to-yonbip", ids=[ticket])
                ident = _requisition_id(bridge, ticket)
                [requisition] = [
                    r.fields for r in await bridge.connector("bip").get("applyorder", [ident])
                ]
                assert (requisition["code"], requisition["status"]) == (f"QG-SR{tag}", 0)
                assert (requisition["org_code"], requisition["bustype"]) == ("991", "A25001")
                assert requisition["vouchdate"] == "2026-12-01 01:05:09"
                parts = sorted(
                    (str(x["product_cCode"]), x["qty"], x["unit_code"])
                    for x in cast(Lines, requisition["applyOrders"])
                )
                assert parts == [("WL00001", 1, "台"), ("WL00003", 2, "台")]
                assert f"SR{tag}" in str(requisition["memo"])

                # YonBIP audits it; both events (保存, 审核) reach the hub, which re-reads
                # the detail and writes number and status onto the 售后工单.
                await _bip(
                    bridge, "/yonbip/scm/applyorder/batchaudit", {"data": [{"id": int(ident)}]}
                )
                deliveries = await _events_delivered(bridge, 2)
            assert [d["type"] for d in deliveries] == ["pu_applyorder_save", "pu_applyorder_audit"]
            assert {f for f, _, _ in bridge.open_jobs()} == {"requisitions-from-yonbip"}
            await bridge.drain()
            fields = (await bridge.get("jdy", TICKET, ticket)).fields
            assert fields[w(409)] == f"QG-SR{tag} 已审核"

            # From an empty store (the xref lost) the 工单, changed since (ERP采购申请号), is a
            # new job: no list to look its code up, but YonBIP refuses a second 请购单 with
            # that code. One dead letter saying so, and no duplicate.
            fresh = bridge.fork(tmp_path / "fresh.db")
            try:
                await fresh.sync("requisitions-to-yonbip", ids=[ticket])
                [(_, record, message)] = fresh.dead_letters()
                assert record == ticket and f"QG-SR{tag}已存在" in message
                assert "没有重复创建" in fresh.dead_letter_hints()[0]
                assert fresh.failed_attempts() == {"validation": 1}
            finally:
                await close(fresh)
                fresh.store.dispose()
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def _ticket(bridge: Bridge, tag: str) -> str:
    return await bridge.create(
        "jdy",
        TICKET,
        {
            w(401): f"SR{tag}",
            w(402): "KH0001",
            w(403): "液压站压力不稳",
            w(404): "中",
            w(406): _utc(datetime(2026, 11, 30, 17, 5, 9, tzinfo=UTC)),
            w(407): [{w(451): "M-1001", w(452): 1}],
            w(408): "处理中",
        },
    )


async def _jdy_api(bridge: Bridge, path: str, body: dict[str, object]) -> dict[str, object]:
    """One 简道云 call (``/api/v5/…``, or the simulator's ``/sim/push`` control)."""
    entry = bridge.sims["jiandaoyun"].entry
    async with httpx.AsyncClient(
        base_url=str(entry["base_url"]),
        headers={"Authorization": f"Bearer {entry['api_key']}"},
        timeout=30,
    ) as jdy:
        answer = await (jdy.get(path) if not body else jdy.post(path, json=body))
    answer.raise_for_status()
    return cast(dict[str, object], answer.json())


async def _ticket_now(bridge: Bridge, ticket: str) -> tuple[object, object, int]:
    """(ERP采购申请号, updateTime, how many times the 工单 was written) through 简道云's API:
    its record, and its data push log (every update of a record is one push)."""
    entry = bridge.sims["jiandaoyun"].entry
    answer = await _jdy_api(
        bridge,
        "/api/v5/app/entry/data/get",
        {"app_id": entry["app_id"], "entry_id": TICKET, "data_id": ticket},
    )
    data = cast(dict[str, object], answer["data"])
    pushes = cast(list[dict[str, object]], (await _jdy_api(bridge, "/sim/push", {}))["deliveries"])
    updates = sum(1 for p in pushes if p["op"] == "data_update" and p["data_id"] == ticket)
    return data[w(409)], data["updateTime"], updates


async def _events_given_up(bridge: Bridge, types: list[str]) -> list[dict[str, object]]:
    """The deliveries of these event types, once each has failed every attempt."""
    for _ in range(200):  # the simulator retries after 0.5, 1 and 2 s
        answer = await _bip(bridge, "/sim/events", {})
        deliveries = cast(
            list[dict[str, object]], cast(dict[str, object], answer["data"])["deliveries"]
        )
        wanted = [d for d in deliveries if d["type"] in types]
        if len(wanted) == len(types) and all(d["attempts"] == 4 for d in wanted):
            return wanted
        await asyncio.sleep(0.1)
    raise AssertionError(f"events not given up: {deliveries}")


async def test_requisition_events_missed_while_the_hub_was_down_are_caught_up_once(
    tmp_path: Path,
) -> None:
    """售后: YonBIP audits and closes a 请购单 while the hub's receiver is down, so both
    events are lost; the hub's catch-up poll of the 请购单 list brings the number and the
    final status onto the 售后工单, written once; a change both an event and the poll
    brought is written once too (through 简道云's API: the record and its push log)."""
    with running_template(TEMPLATE, tmp_path, SYSTEMS) as bridge:
        try:
            flow = "requisitions-from-yonbip"
            trigger = bridge.plans[flow].spec.source.trigger
            assert trigger.webhook and trigger.poll == timedelta(minutes=5)  # events + catch-up
            tag = _tag()
            ticket = await _ticket(bridge, tag)
            # 简道云 data push → a recorder: every write of a 工单 is one push in its log.
            recorder = Starlette(routes=[Route("/r", _ok, methods=["POST"])])
            with serve_app(recorder) as recording:
                await _jdy_api(
                    bridge,
                    "/sim/push",
                    {"url": f"{recording.base_url}/r", "events": ["data_update"]},
                )
                receiver = bridge.fork_runtime()
                with serve_app(create_app(receiver.hub)) as hub_server:
                    await _bip(bridge, "/sim/events", {"url": f"{hub_server.base_url}/hooks/bip"})
                    await bridge.sync("requisitions-to-yonbip", ids=[ticket])
                    ident = _requisition_id(bridge, ticket)
                    await _events_delivered(bridge, 1)  # 保存: the hub is up
                await bridge.drain()
                opened, stamp, writes = await _ticket_now(bridge, ticket)
                assert (opened, writes) == (f"QG-SR{tag} 开立", 1)

                # The catch-up poll (at start, then every 5 minutes) reads the same 保存:
                # it maps to what the 工单 holds, so nothing is written.
                polled = await poll_flow(bridge.store, bridge.runtime, flow, bridge.clock)
                await bridge.drain()
                assert polled.queued >= 1
                assert await _ticket_now(bridge, ticket) == (opened, stamp, 1)

                # The hub is down (its receiver gone): YonBIP audits and closes the 请购单;
                # the platform retries each event, then gives up.
                body: dict[str, object] = {"data": [{"id": int(ident)}]}
                await _bip(bridge, "/yonbip/scm/applyorder/batchaudit", body)
                await _bip(bridge, "/yonbip/scm/applyorder/close", body)
                lost = await _events_given_up(
                    bridge, ["pu_applyorder_audit", "pu_applyorder_close"]
                )
                assert not any(d["delivered"] for d in lost)
                assert bridge.open_jobs() == []
                assert await _ticket_now(bridge, ticket) == (opened, stamp, 1)

                # The hub is back: its scheduler polls the flow at once (then every 5
                # minutes), reading the list from the stored cursor.
                assert await _scheduler_polls(bridge, flow) == 1
                await bridge.drain()
                closed, later, writes = await _ticket_now(bridge, ticket)
                assert (closed, writes) == (f"QG-SR{tag} 已关闭", 2) and later != stamp

                # Polling again finds nothing new to write.
                await poll_flow(bridge.store, bridge.runtime, flow, bridge.clock)
                await bridge.drain()
                assert await _ticket_now(bridge, ticket) == (closed, later, 2)
                await _jdy_api(bridge, "/sim/push", {"url": ""})
            outcomes = [o for s, o in bridge.outcomes(flow) if s == ident]
            assert outcomes == ["updated", "unchanged", "updated"], outcomes
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def _scheduler_polls(bridge: Bridge, flow: str) -> int:
    """Start the hub's scheduler for ``flow`` (as ``erpbridge run`` does), stop it after
    its first poll; how many jobs that poll queued."""

    def last_run() -> tuple[int, int]:
        with bridge.store.connect() as conn:
            row = conn.execute(
                sa.select(runs.c.id, runs.c.queued)
                .where(runs.c.flow == flow, runs.c.trigger == "poll")
                .order_by(runs.c.id.desc())
                .limit(1)
            ).first()
        return (int(row.id), int(row.queued)) if row else (0, 0)

    before, _ = last_run()
    stop = asyncio.Event()
    scheduler = Scheduler(
        bridge.store, bridge.runtime, {flow: bridge.plans[flow]}, bridge.clock, Metrics()
    )
    task = asyncio.create_task(scheduler.run(stop))
    try:
        for _ in range(300):
            ident, queued = last_run()
            if ident > before:
                return queued
            await asyncio.sleep(0.05)
        raise AssertionError(f"{flow} was not polled")
    finally:
        stop.set()
        await task


async def _ok(request: Request) -> PlainTextResponse:
    await request.body()
    return PlainTextResponse("success")
