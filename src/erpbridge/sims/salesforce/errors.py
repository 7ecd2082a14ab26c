"""Salesforce's REST error shape: HTTP status + ``[{"message","errorCode","fields"}]``."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SfError", "method_not_allowed", "not_found"]


class SfError(Exception):
    """One error Salesforce would answer, with the status it answers it with.

    Args:
        status: HTTP status (400 for most record errors).
        code: Salesforce ``errorCode`` (``REQUIRED_FIELD_MISSING``).
        message: the human text, in Salesforce's wording where known.
        fields: the fields concerned, when the error names them.
    """

    def __init__(self, status: int, code: str, message: str, fields: Sequence[str] = ()) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)
        super().__init__(f"{code}: {message}")

    def rest_body(self) -> list[dict[str, object]]:
        """The REST error body (``errorCode``; ``fields`` only when there are some)."""
        entry: dict[str, object] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            entry["fields"] = self.fields
        return [entry]

    def result_error(self) -> dict[str, object]:
        """One entry of a collections result's ``errors`` (``statusCode``, always ``fields``)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def not_found() -> SfError:
    """The 404 every unknown resource gets."""
    return SfError(404, "NOT_FOUND", "The requested resource does not exist")


def method_not_allowed(method: str, allowed: str) -> SfError:
    """405 with Salesforce's wording."""
    return SfError(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    )
