"""The same semantics over SFTP, against a real asyncssh server on 127.0.0.1."""

from __future__ import annotations

import csv
from pathlib import Path

import asyncssh
import pytest
import structlog.testing

from erpbridge.connectors.files import FilesConnector, FilesSettings
from erpbridge.spi.errors import AuthError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.secrets import Secret

from .conftest import (
    SFTP_PASSWORD,
    ManualClock,
    SftpServer,
    drain,
    poll,
    records_of,
    sftp_settings,
)


async def test_sftp_source_reads_gbk_csv_and_moves_it_to_done(sftp_server: SftpServer) -> None:
    inbox = sftp_server.root / "inbox"
    inbox.mkdir()
    (inbox / "orders.csv").write_bytes("订单号,客户\nSO-1,华北机械\n".encode("gbk"))
    conn = FilesConnector(sftp_settings(sftp_server, key="订单号"))
    try:
        records = records_of(await drain(conn))
    finally:
        await conn.aclose()

    assert [(r.id, r.fields["客户"]) for r in records] == [("SO-1", "华北机械")]
    assert not (inbox / "orders.csv").exists()
    assert (inbox / "done" / "orders.csv").exists()


async def test_sftp_login_with_a_private_key(sftp_server: SftpServer) -> None:
    (sftp_server.root / "inbox").mkdir()
    conn = FilesConnector(sftp_settings(sftp_server, use_key=True))
    try:
        result = await conn.check()
    finally:
        await conn.aclose()

    assert result.ok, result.reason


async def test_sftp_bad_rows_go_to_failed_with_a_remote_report(sftp_server: SftpServer) -> None:
    inbox = sftp_server.root / "inbox"
    inbox.mkdir()
    (inbox / "bad.csv").write_text("id,n\n1,a\n2,b,c\n3,d\n", encoding="utf-8")
    conn = FilesConnector(sftp_settings(sftp_server, key="id"))
    try:
        records = records_of(await drain(conn))
    finally:
        await conn.aclose()

    assert [r.id for r in records] == ["1", "3"]
    with (inbox / "failed" / "bad.csv.errors.csv").open(encoding="utf-8-sig") as fh:
        (error,) = list(csv.DictReader(fh))
    assert error["row"] == "3"
    assert (inbox / "failed" / "bad.csv").exists()


async def test_sftp_identical_file_is_processed_once(sftp_server: SftpServer) -> None:
    inbox = sftp_server.root / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("id\n1\n", encoding="utf-8")
    conn = FilesConnector(sftp_settings(sftp_server, key="id"))
    try:
        first = records_of(await drain(conn))
        (inbox / "b.csv").write_text("id\n1\n", encoding="utf-8")
        second = records_of(await drain(conn))
    finally:
        await conn.aclose()

    assert len(first) == 1 and second == []


async def test_sftp_half_written_file_waits_for_a_stable_size(sftp_server: SftpServer) -> None:
    inbox = sftp_server.root / "inbox"
    inbox.mkdir()
    clock = ManualClock()
    (inbox / "g.csv").write_text("id\n1\n", encoding="utf-8")
    conn = FilesConnector(sftp_settings(sftp_server, key="id", ready="stable"), clock=clock)
    try:
        early = records_of(await drain(conn))
        with (inbox / "g.csv").open("a", encoding="utf-8") as fh:
            fh.write("2\n")
        clock.advance(10)
        growing = records_of(await drain(conn))
        clock.advance(10)
        stable = records_of(await drain(conn))
    finally:
        await conn.aclose()

    assert early == growing == []
    assert [r.id for r in stable] == ["1", "2"]


async def test_sftp_target_uploads_atomically_and_rolls(sftp_server: SftpServer) -> None:
    (sftp_server.root / "inbox").mkdir()
    settings = sftp_settings(sftp_server, folder="out", roll_records=2, format="jsonl")
    conn = FilesConnector(settings)
    batch = [WriteOp(WriteMode.CREATE, {"id": i, "名": "张三"}, ref=str(i)) for i in range(3)]
    try:
        results = await conn.write("orders", batch)
        again = await conn.write("orders", batch)
    finally:
        await conn.aclose()

    out = sftp_server.root / "inbox" / "out"
    files = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    assert [len(f.read_text(encoding="utf-8").splitlines()) for f in files] == [2, 1]
    assert "张三" in files[0].read_text(encoding="utf-8")
    assert [r.outcome for r in results] == [WriteOutcome.CREATED] * 3
    assert [r.outcome for r in again] == [WriteOutcome.UNCHANGED] * 3
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


async def test_sftp_wrong_password_is_an_auth_failure_in_check(sftp_server: SftpServer) -> None:
    settings = sftp_settings(sftp_server).model_copy(
        update={"password": Secret.literal("wrong-password")}
    )
    conn = FilesConnector(settings)
    try:
        result = await conn.check()
    finally:
        await conn.aclose()

    assert not result.ok
    assert result.details["error"] == AuthError.__name__
    assert "wrong-password" not in result.reason


async def test_sftp_unknown_host_key_is_refused(sftp_server: SftpServer) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    settings = sftp_settings(sftp_server).model_copy(update={"host_key": other})
    conn = FilesConnector(settings)
    try:
        result = await conn.check()
    finally:
        await conn.aclose()

    assert not result.ok
    assert result.details["error"] == AuthError.__name__


def test_sftp_settings_refuse_an_unverified_server(tmp_path: Path) -> None:
    try:
        FilesSettings(
            location="sftp",
            root="/x",
            host="127.0.0.1",
            username="u",
            password=Secret.literal("pass-word"),
            objects={"o": {}},
        )
    except ValueError as exc:
        assert "host_key or known_hosts" in str(exc)
    else:
        raise AssertionError("settings without a host key were accepted")


async def test_sftp_reconnects_after_the_session_drops(sftp_server: SftpServer) -> None:
    inbox = sftp_server.root / "inbox"
    inbox.mkdir()
    conn = FilesConnector(sftp_settings(sftp_server, key="id"))
    try:
        assert (await conn.check()).ok
        session = conn.storage._conn  # type: ignore[attr-defined]  # simulate a dropped link
        session.close()
        await session.wait_closed()
        (inbox / "a.csv").write_text("id\n1\n", encoding="utf-8")
        records = records_of(await drain(conn))
    finally:
        await conn.aclose()

    assert [r.id for r in records] == ["1"]


async def test_no_log_line_carries_the_sftp_password(sftp_server: SftpServer) -> None:
    inbox = sftp_server.root / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("id\n1\n2,x\n", encoding="utf-8")
    conn = FilesConnector(sftp_settings(sftp_server, key="id"))
    try:
        with structlog.testing.capture_logs() as logs:
            await drain(conn)
            await conn.write("orders", [WriteOp(WriteMode.CREATE, {"id": 1}, ref="1")])
    finally:
        await conn.aclose()

    assert {e["event"] for e in logs} >= {"files.file_done", "files.written"}
    assert not [e for e in logs if SFTP_PASSWORD in repr(e)]


async def test_sftp_read_only_drop_is_read_once_with_after_read_keep(
    readonly_sftp_server: SftpServer,
) -> None:
    inbox = readonly_sftp_server.root / "inbox"
    inbox.mkdir()
    (inbox / "orders.csv").write_bytes("订单号,客户\nSO-1,华北机械\n".encode("gbk"))
    conn = FilesConnector(sftp_settings(readonly_sftp_server, key="订单号", after_read="keep"))
    try:
        first = records_of(await poll(conn))
        second = records_of(await poll(conn))
        (inbox / "orders.csv").write_bytes(
            "订单号,客户\nSO-1,华北机械\nSO-2,上海贸易\n".encode("gbk")
        )
        third = records_of(await poll(conn))
    finally:
        await conn.aclose()

    assert [r.id for r in first] == ["SO-1"] and second == []
    assert [r.id for r in third] == ["SO-1", "SO-2"]  # changed content under the same name
    assert sorted(p.name for p in inbox.iterdir()) == ["orders.csv"]


async def test_sftp_read_only_drop_refuses_the_move_mode(readonly_sftp_server: SftpServer) -> None:
    inbox = readonly_sftp_server.root / "inbox"
    inbox.mkdir()
    (inbox / "orders.csv").write_text("id\n1\n", encoding="utf-8")
    conn = FilesConnector(sftp_settings(readonly_sftp_server, key="id"))
    try:
        await poll(conn)
        with pytest.raises(AuthError, match="read-only folder"):
            await poll(conn)  # the move to done/ is refused by the server
    finally:
        await conn.aclose()
