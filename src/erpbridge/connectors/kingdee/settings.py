"""The settings of a ``kingdee`` connection (pydantic, validated at load)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings, Limits

__all__ = ["DEFAULT_FORMS", "KingdeeSettings"]

#: the forms describe() reports unless ``forms`` says otherwise: standard K/3 Cloud forms
#: only. The simulator's credit form ``CRE_CustCreditProfile`` is a stand-in that a real
#: tenant lacks, so it is listed only where configured (the sandbox template does).
DEFAULT_FORMS = (
    "BD_Customer",
    "BD_MATERIAL",
    "SAL_SaleOrder",
    "STK_Inventory",
    "PUR_Requisition",
)


class KingdeeSettings(ConnectionSettings):
    """One K/3 Cloud data centre as one user.

    Attributes:
        base_url: ``http(s)://host/k3cloud/`` (a missing trailing slash is added).
        acct_id: the data centre id (账套ID, DCID).
        username: the integration user.
        auth: ``signature`` (default): the official SDK's signed headers on every call,
            no login round trip, works where password login is refused (public cloud since
            2022-11); ``app_secret``: LoginByAppSecret then the session cookie;
            ``password``: ValidateUser then the session cookie.
        app_id / app_secret: from 第三方系统登录授权 (signature and app_secret modes).
        password: the user's password (password mode).
        lcid: 2052 zh-CN (default), 1033 en-US, 3076 zh-TW.
        org_num: organisation number for the signed headers. Default 0.
        server_utc_offset_min: the server's local time offset; K/3 Cloud answers and
            filters stamps in its local time without a zone. Default +480 (China).
        overlap_s: how far before the cursor a read starts again (same-second edits,
            late commits). Default 60 s.
        submit_and_audit: after saving, submit and audit in the same transaction
            (``IsAutoSubmitAndAudit``), so a bill is never left half-approved. Default off.
        unaudit_to_update: an update of an audited record (which K/3 Cloud refuses)
            un-audits it, saves, and submits and audits it again. Default off: the
            refusal comes back as a validation error with Kingdee's message.
        line_references: per form, per entry, the entry field that carries the CRM line
            id (K/3 Cloud has none as standard; a tenant adds a 二开 text field), e.g.
            ``{"SAL_SaleOrder": {"FSaleOrderEntry": "F_XXX_CrmEntryId"}}``. An update of
            such an entry is matched row by row (``FEntryID`` kept, rows added and
            removed; lines.py). Default none: the lines given replace the bill's rows.
        close_removed_lines: a removed line that already went out (已出库) is closed
            (行关闭, ExcuteOperation ``YLMRPClose``, an opNumber the reference does not
            list: UNSURE) instead of being a dead letter. Default off.
        forms: the forms (objects) describe() reports.
        read_filters: an extra FilterString per form ANDed into read_changes
            (e.g. ``{"SAL_SaleOrder": "FDocumentStatus='C'"}`` to read audited bills only).
        ca_file: a CA file to trust (sandbox over HTTPS).
    """

    base_url: str
    acct_id: str = Field(min_length=1)
    username: str = Field(min_length=1)
    auth: Literal["signature", "app_secret", "password"] = "signature"
    app_id: str | None = None
    app_secret: Secret | None = None
    password: Secret | None = None
    lcid: Literal[2052, 1033, 3076] = 2052
    org_num: int = Field(default=0, ge=0)
    server_utc_offset_min: int = Field(default=480, ge=-720, le=840)
    overlap_s: float = Field(default=60.0, ge=0)
    submit_and_audit: bool = False
    unaudit_to_update: bool = False
    line_references: dict[str, dict[str, str]] = Field(default_factory=dict)
    close_removed_lines: bool = False
    forms: tuple[str, ...] = DEFAULT_FORMS
    read_filters: dict[str, str] = Field(default_factory=dict)
    ca_file: str | None = None
    limits: Limits = Field(default_factory=lambda: Limits(batch_size=100))

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https:// (…/k3cloud/)")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _credentials_for_auth(self) -> KingdeeSettings:
        if self.auth in ("signature", "app_secret"):
            if not self.app_id or self.app_secret is None:
                raise ValueError(f"auth {self.auth!r} needs app_id and app_secret")
            if self.auth == "signature" and len(self.app_id.split("_")) != 2:
                raise ValueError("app_id must look like <clientId>_<32 characters> for signature")
        if self.auth == "password" and self.password is None:
            raise ValueError("auth 'password' needs password")
        return self
