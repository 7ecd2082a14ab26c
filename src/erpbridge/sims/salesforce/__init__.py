"""Salesforce simulator: SOAP/OAuth login and the REST API subset erpbridge and clients use.

Exports ``SIMULATOR`` for ``erpbridge sandbox`` (README.md says what it copies).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from erpbridge.sims._common.spec import SimulatorSpec
from erpbridge.sims.salesforce import auth
from erpbridge.sims.salesforce.app import build_app, create_app, sim_of
from erpbridge.sims.salesforce.jwt_bearer import app_key_file
from erpbridge.sims.salesforce.state import ORG_ID

__all__ = ["API_VERSION", "SIMULATOR", "build_app", "connection_entry", "create_app", "sim_of"]

API_VERSION = "59.0"


def connection_entry(base_url: str, ca_file: Path | None) -> Mapping[str, object]:
    """The ports-file entry: what a Salesforce connection to this simulator needs."""
    return {
        "base_url": base_url,
        "api_version": API_VERSION,
        "auth": "oauth_password",
        "username": auth.USERNAME,
        "password": auth.PASSWORD,
        "security_token": auth.SECURITY_TOKEN,
        "client_id": auth.CONSUMER_KEY,
        "client_secret": auth.CONSUMER_SECRET,
        "org_id": ORG_ID,
        "ca_file": str(ca_file) if ca_file else None,
        # the connected app's key for the JWT bearer flow (auth: jwt); it lives in the
        # simulator's data directory, whose tls/ folder holds ca_file
        "private_key_file": str(app_key_file(ca_file.parent.parent)) if ca_file else None,
    }


SIMULATOR = SimulatorSpec(
    name="salesforce",
    create_app=create_app,
    connection_entry=connection_entry,
    needs_tls=True,
    summary="Salesforce REST API v31-62 (SOAP/OAuth login, SOQL, collections, outbound messages)",
)
