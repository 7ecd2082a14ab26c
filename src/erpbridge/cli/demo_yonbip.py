"""The jdy-yonbip demo's YonBIP steps: what a person does in YonBIP's own UI, done through
the sandbox simulator's controls (``/sim/credit``, ``/sim/events``; docs/sandbox.md),
which are not YonBIP APIs and are never used by the connector.

- **Credit watch.** YonBIP's seeded credit belongs to its own customers, so no 简道云
  order would be held. Once the 简道云 customers are in YonBIP, credit control gives one
  of them (:data:`CREDIT_WATCH`) a low limit there, and the credit sync (the stand-in
  credit list) brings it onto the 简道云 客户 before any order is checked: that customer's
  orders over it are held, as the sf-sap demo's credit-watch account's are.
- **Event subscription.** 请购单 status comes back only by YonBIP's events (事件订阅): the
  demo subscribes them to its own hub's ``/hooks/bip`` (a real HTTP receiver, so every
  event goes through the connector's signature check and decryption) and waits until
  the simulator has delivered them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from erpbridge.connectors.yonbip.signing import signature
from erpbridge.engine.hub import Hub
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.worker import Worker

__all__ = ["CREDIT_WATCH", "SimControl", "SimControlError", "watch_credit"]

#: the 简道云 customer (客户编号) credit control watches, and its YonBIP limit in 元. Its
#: three seeded orders (61,370, 65,360 and 80,973 元; seed 0) are over it.
CREDIT_WATCH = ("C00002", 50_000)
#: worker rounds at most while syncing the customers and their credit before the run.
_MAX_ROUNDS = 50
_TOKEN_PATH = "/open-auth/selfAppAuth/getAccessToken"  # noqa: S105 - a path, not a secret
_GATEWAY_SUFFIX = "/iuap-api-gateway"


class SimControlError(Exception):
    """The simulator refused a control, or could not be reached or understood."""


class SimControl:
    """Calls the YonBIP simulator's controls with the sandbox app's token.

    Args:
        entry: the simulator's ports-file entry (gateway and token URLs, app key/secret).
        http: the client (made and closed by the caller).
    """

    def __init__(self, entry: Mapping[str, object], http: httpx.AsyncClient) -> None:
        self._entry = entry
        self._http = http
        self._token: str | None = None
        # The controls sit beside the gateway, at the server root.
        self._root = str(entry["gateway_url"]).removesuffix(_GATEWAY_SUFFIX)

    async def post(self, path: str, body: Mapping[str, object]) -> object:
        """POST ``body`` to the control ``path``; its ``data``.

        Raises:
            SimControlError: refused (with the simulator's code and message), unreachable,
                or not a JSON envelope.
        """
        try:
            token = self._token or await self._fetch_token()
            answer = await self._http.post(
                self._root + path, params={"access_token": token}, json=dict(body)
            )
            envelope = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SimControlError(f"YonBIP simulator {path}: {exc}") from exc
        if not isinstance(envelope, dict) or str(envelope.get("code")) != "200":
            raise SimControlError(f"YonBIP simulator {path}: {envelope}")
        return envelope.get("data")

    async def _fetch_token(self) -> str:
        params = {"appKey": str(self._entry["app_key"]), "timestamp": str(int(time.time() * 1000))}
        params["signature"] = signature(params, str(self._entry["app_secret"]))
        answer = await self._http.get(f"{self._entry['token_url']}{_TOKEN_PATH}", params=params)
        data = answer.json().get("data")
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise SimControlError(f"YonBIP simulator token: {answer.text[:200]}")
        self._token = data["access_token"]
        return self._token

    async def subscribe(self, url: str) -> None:
        """Send YonBIP's events to ``url`` (``""`` stops them)."""
        await self.post("/sim/events", {"url": url})

    async def deliveries(self) -> tuple[int, int]:
        """Events published so far, and how many of them are still being delivered (not
        yet answered 2xx, and not given up after the simulator's 4 attempts)."""
        data = await self.post("/sim/events", {})
        items = data.get("deliveries", []) if isinstance(data, dict) else []
        pending = sum(1 for d in items if not d.get("delivered") and int(d.get("attempts", 0)) < 4)
        return len(items), pending


async def _sync(hub: Hub, flow: str) -> None:
    """Poll ``flow`` and work its jobs (a bounded number of worker rounds)."""
    await poll_flow(hub.store, hub.runtime, flow, hub.clock, hub.metrics)
    worker = Worker(
        hub.store, hub.runtime, {flow: hub.plans[flow]}, clock=hub.clock, metrics=hub.metrics
    )
    for _ in range(_MAX_ROUNDS):
        if await worker.run_once() == 0:
            return


async def watch_credit(hub: Hub, control: SimControl) -> str:
    """Customers to YonBIP, the credit-watch limit set there, credit back to 简道云.

    Returns:
        A line for the person watching the demo.

    Raises:
        SimControlError: the simulator refused the limit (the customer did not reach YonBIP).
        ErpBridgeError: a poll failed (a connector's error).
    """
    code, limit = CREDIT_WATCH
    await _sync(hub, "customers-to-yonbip")
    await control.post("/sim/credit", {"customer": code, "creditLimit": limit})
    await _sync(hub, "credit-from-yonbip")
    return f"credit control set 客户 {code}'s limit in YonBIP to {limit:,} 元; credit synced"
