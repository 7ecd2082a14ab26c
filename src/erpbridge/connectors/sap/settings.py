"""The settings of a ``sap`` connection (validated at load; unknown keys refused)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["DEFAULT_SERVICES", "SapSettings"]

#: object (entity set) -> OData service that holds it (reference §7).
DEFAULT_SERVICES: dict[str, str] = {
    "A_BusinessPartner": "API_BUSINESS_PARTNER",
    "A_BusinessPartnerAddress": "API_BUSINESS_PARTNER",
    "A_Customer": "API_BUSINESS_PARTNER",
    "A_SalesOrder": "API_SALES_ORDER_SRV",
    "A_SalesOrderItem": "API_SALES_ORDER_SRV",
    "A_Product": "API_PRODUCT_SRV",
    "A_ProductDescription": "API_PRODUCT_SRV",
    "A_MaterialStock": "API_MATERIAL_STOCK_SRV",
    "A_MatlStkInAcctMod": "API_MATERIAL_STOCK_SRV",
    "A_CreditManagementAccount": "API_CRDTMBUSINESSPARTNER",
    "A_PurchaseRequisitionHeader": "API_PURCHASEREQ_PROCESS_SRV",
    "A_PurchaseRequisitionItem": "API_PURCHASEREQ_PROCESS_SRV",
    "A_MaterialDocumentHeader": "API_MATERIAL_DOCUMENT_SRV",
    "A_MaterialDocumentItem": "API_MATERIAL_DOCUMENT_SRV",
}


class SapSettings(ConnectionSettings):
    """A connection to an SAP S/4HANA system's OData V2 APIs.

    Attributes:
        base_url: scheme, host and port of the system (``https://s4.example.com:44300``).
        username: the communication user (Basic auth).
        password: its password, by reference (``${env:SAP_PASSWORD}``).
        sap_client: the SAP client (``100``); sent as ``sap-client``. Default: the
            system's default client.
        service_path: where OData V2 services live. Default ``/sap/opu/odata/sap``.
        services: extra or overriding object -> service entries (merged over the defaults).
        ca_file: a CA bundle to trust (sandbox HTTPS); only used when the connector
            makes its own HTTP client.
    """

    base_url: str
    username: str = Field(min_length=1, max_length=40)
    password: Secret
    sap_client: str | None = None
    service_path: str = "/sap/opu/odata/sap"
    services: dict[str, str] = Field(default_factory=dict)
    ca_file: str | None = None

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/.*)?$", value):
            raise ValueError("base_url must look like https://host[:port]")
        return value.rstrip("/")

    @field_validator("sap_client")
    @classmethod
    def _check_client(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{3}", value):
            raise ValueError("sap_client is three digits, like 100")
        return value

    @field_validator("service_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("service_path starts with /")
        return value.rstrip("/")

    def service_of(self, object: str) -> str | None:
        """The OData service holding ``object``, or None when unknown."""
        return self.services.get(object) or DEFAULT_SERVICES.get(object)

    def service_root(self, service: str) -> str:
        """Absolute URL of a service root, with the trailing slash OData expects."""
        return f"{self.base_url}{self.service_path}/{service}/"
