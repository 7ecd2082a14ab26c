from __future__ import annotations

from pathlib import Path

import pytest

from erpbridge.spi.secrets import Secret, SecretResolver, load_dotenv


def test_env_wins_over_dotenv() -> None:
    resolver = SecretResolver(environ={"A": "from-env"}, dotenv={"A": "from-dotenv", "B": "dot"})
    assert resolver.resolve("${env:A}") == "from-env"
    assert resolver.resolve("${env:B}") == "dot"


def test_file_reference_is_read_relative_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("file-secret\n", encoding="utf-8")
    assert SecretResolver(environ={}, base_dir=tmp_path).resolve("${file:pw}") == "file-secret"


def test_unresolvable_reference_says_which_without_value(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="environment variable NOPE is not set"):
        SecretResolver(environ={}).resolve("${env:NOPE}")
    with pytest.raises(LookupError, match="cannot be read"):
        SecretResolver(environ={}, base_dir=tmp_path).resolve("${file:missing}")


def test_secret_repr_shows_reference_only() -> None:
    secret = Secret("${env:X}", SecretResolver(environ={"X": "value-xyz"}))
    assert secret.reveal() == "value-xyz"
    assert "value-xyz" not in repr(secret) + str(secret)


def test_dotenv_parsing(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nexport A=1\nB = 'two words'\nC=\"q\"\nnot a line\n", encoding="utf-8"
    )
    assert load_dotenv(tmp_path / ".env") == {"A": "1", "B": "two words", "C": "q"}
    assert load_dotenv(tmp_path / "absent") == {}
