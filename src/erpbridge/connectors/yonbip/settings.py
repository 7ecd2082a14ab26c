"""The settings of a ``yonbip`` connection (pydantic, validated at load)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings, Limits

__all__ = ["DEFAULT_OBJECTS", "KNOWN_OBJECTS", "STAND_IN_CREDIT_API", "YonBipSettings"]

#: the objects describe() reports unless ``objects`` says otherwise.
DEFAULT_OBJECTS = ("merchant", "voucherorder", "product", "currentstock")
#: every object the connector can offer: the defaults plus ``credit`` (a stand-in, see
#: ``credit_api``) and ``applyorder`` (请购单), listed in ``objects`` to use them.
KNOWN_OBJECTS = (*DEFAULT_OBJECTS, "credit", "applyorder")
#: where the ``credit`` object is read by default: erpbridge's stand-in path, served by
#: the simulator; NOT a Yonyou API (none is documented, reference §B3).
STAND_IN_CREDIT_API = "/yonbip/erpbridge/credit/list"


class YonBipSettings(ConnectionSettings):
    """One YonBIP / YonSuite tenant through a self-built app (自建应用).

    Attributes:
        gateway_url / token_url: the tenant's data-centre URLs
            (``https://c2.yonyoucloud.com/iuap-api-gateway`` and ``…/iuap-api-auth``).
            Leave both out and give ``tenant_id`` to look them up at the first call.
        tenant_id: the tenant id for the data-centre lookup.
        data_center_url: where the lookup is asked. Default the public open platform.
        app_key / app_secret: the self-built app's key and secret.
        server_utc_offset_min: the tenant's local time offset; ``pubts`` stamps come and
            filter in local time without a zone. Default +480 (China).
        overlap_s: how far before the cursor a read starts again. ``pubts`` has
            one-second resolution. Default 5 s.
        sales_org_code: default ``salesOrgId`` for order writes that leave it out. Default None.
        unaudit_to_update: a change to an audited sales order is saved by un-auditing it
            (``batchunaudit``), saving and auditing it again (``batchaudit``); a removal
            (``_status: Delete``) un-audits before ``delete``. Default False: YonBIP's
            refusal (单据已审核，不能修改) is the answer.
        credit_api: the gateway path the ``credit`` object is listed from. YonBIP documents
            no credit API: the default is erpbridge's stand-in (served by the simulator);
            a tenant that publishes its own credit list (a YonBuilder custom API answering
            the same shape, docs/connectors/yonyou.md) names its path here.
        objects: the objects describe() reports.
        ca_file: a CA file to trust (sandbox over HTTPS).
    """

    gateway_url: str | None = None
    token_url: str | None = None
    tenant_id: str | None = None
    data_center_url: str = "https://apigateway.yonyoucloud.com"
    app_key: str = Field(min_length=1)
    app_secret: Secret
    server_utc_offset_min: int = Field(default=480, ge=-720, le=840)
    overlap_s: float = Field(default=5.0, ge=0)
    sales_org_code: str | None = None
    unaudit_to_update: bool = False
    credit_api: str = STAND_IN_CREDIT_API
    objects: tuple[str, ...] = DEFAULT_OBJECTS
    ca_file: str | None = None
    # The free-call quota is 60 calls per minute for the voucherorder APIs (reference §B6).
    limits: Limits = Field(default_factory=lambda: Limits(batch_size=50))

    @field_validator("gateway_url", "token_url", "data_center_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _where(self) -> YonBipSettings:
        if (self.gateway_url is None) != (self.token_url is None):
            raise ValueError("give both gateway_url and token_url, or neither (with tenant_id)")
        if self.gateway_url is None and not self.tenant_id:
            raise ValueError("give gateway_url and token_url, or tenant_id to look them up")
        unknown = set(self.objects) - set(KNOWN_OBJECTS)
        if unknown:
            raise ValueError(f"unknown objects {sorted(unknown)} (known: {list(KNOWN_OBJECTS)})")
        if not self.credit_api.startswith("/"):
            raise ValueError("credit_api must be a gateway path starting with /")
        return self
