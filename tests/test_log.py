from __future__ import annotations

import io
import json

import structlog

from erpbridge.log import configure_logging, get_logger, redact
from erpbridge.spi.secrets import Secret, SecretResolver


def _log_lines(**event: object) -> list[dict[str, object]]:
    stream = io.StringIO()
    configure_logging(1, json=True, stream=stream)
    try:
        get_logger("t").info("thing.happened", **event)
    finally:
        structlog.reset_defaults()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_resolved_secret_never_appears_in_logs() -> None:
    value = SecretResolver(environ={"SF_PW": "Sup3r-Secret-Pw"}).resolve("${env:SF_PW}")
    [line] = _log_lines(error=f"login failed for user x with {value}", nested={"a": [value]})
    text = json.dumps(line)
    assert "Sup3r-Secret-Pw" not in text
    assert line["error"] == "login failed for user x with ***"


def test_secret_named_keys_are_blanked_at_any_depth() -> None:
    [line] = _log_lines(
        headers={"Authorization": "Bearer abcdefghijk", "Accept": "json"},
        password="p4ss-literal",
        body={"client_secret": "zzz-123", "name": "ok"},
    )
    assert line["headers"] == {"Authorization": "***", "Accept": "json"}
    assert line["password"] == "***"
    assert line["body"] == {"client_secret": "***", "name": "ok"}


def test_bearer_token_inside_free_text_is_blanked() -> None:
    assert redact("sent Authorization: Bearer eyJhbGciOi.abc.def then", frozenset()) == (
        "sent Authorization: Bearer *** then"
    )


def test_literal_secret_is_registered_for_redaction() -> None:
    secret = Secret.literal("sandbox-pass-77")
    [line] = _log_lines(note=f"using {secret.reveal()}")
    assert line["note"] == "using ***"
    assert repr(secret) == "Secret('${literal}')"


def test_info_is_filtered_at_default_verbosity() -> None:
    stream = io.StringIO()
    configure_logging(0, json=True, stream=stream)
    try:
        get_logger().info("quiet")
        get_logger().warning("loud")
    finally:
        structlog.reset_defaults()
    assert [json.loads(x)["event"] for x in stream.getvalue().splitlines()] == ["loud"]
