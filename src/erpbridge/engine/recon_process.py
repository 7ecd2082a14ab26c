"""Reading both sides of a recon at once: the source side in a forked child process.

Mapping and encoding the source side is the costliest part of a run, so on a machine
with ``fork`` the source side is read by a child process while this process reads the
target side: both cores work. The child inherits the loaded project, the compiled
mapping and any ready-made connectors; connectors built from the registry are rebuilt in
the child (their network clients belong to the parent), and the store's pooled
connections are dropped there. The child reports progress and its result (or the reason
it failed) through a pipe; nothing else is shared but the run's work folder.

Without ``fork`` (or with an in-memory SQLite store, which a child cannot see), the two
sides are read one after the other in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.recon_compare import PartitionJoin
from erpbridge.engine.recon_index import SOURCE, TARGET, SideSpill, partition_pairs
from erpbridge.engine.recon_side import (
    Progress,
    ReadStopped,
    SideResult,
    SideTask,
    fewer_collections,
    read_side,
)
from erpbridge.engine.runtime import Runtime
from erpbridge.spi.errors import ConnectorError, ErpBridgeError

__all__ = ["SideFailed", "can_fork", "join_partitions", "load_done", "read_sides"]


class SideFailed(Exception):  # noqa: N818 - carries the reason of a failed side
    """One side could not be read to its end; ``str()`` is the reason."""


def can_fork(store: sa.Engine) -> bool:
    """True when the source side can be read by a forked child process."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    url = store.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


def _done_path(folder: Path, side: str) -> Path:
    return folder / f"{side}.done"


def mark_done(folder: Path, result: SideResult) -> None:
    """Record that ``result.side`` was read to its end (a resumed run skips it)."""
    path = _done_path(folder, result.side)
    path.with_suffix(".tmp").write_bytes(pickle.dumps(result, protocol=5))
    os.replace(path.with_suffix(".tmp"), path)


def load_done(folder: Path, side: str) -> SideResult | None:
    """The result of a side read to its end earlier, or None."""
    path = _done_path(folder, side)
    if not path.exists():
        return None
    result: SideResult = pickle.loads(path.read_bytes())  # noqa: S301 - our own private file
    return result


def _child_main(
    pipe: Connection,
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    task: SideTask,
    folder: Path,
) -> None:
    """The forked child: read one side, send ("done", result) or ("failed", reason)."""
    _quiet_child()
    asyncio.events._set_running_loop(None)  # the parent's loop was running when we forked
    store.dispose(close=False)  # the parent's pooled connections are not ours
    runtime.forget_built_connectors()
    try:
        result = asyncio.run(
            read_side(
                store,
                runtime,
                plan,
                task,
                SideSpill(folder, task.side),
                progress=lambda side, n: pipe.send(("progress", n)),
            )
        )
        mark_done(folder, result)
        pipe.send(("done", result))
    except ConnectorError as exc:
        pipe.send(("failed", str(exc)))
    except (ErpBridgeError, sa.exc.SQLAlchemyError, OSError) as exc:
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # noqa: BLE001 - process edge: a bug must reach the run, not vanish
        pipe.send(("failed", f"internal error {type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


class _Child:
    """The parent's handle on a child process (reading the source side, or joining)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, pipe: Connection) -> None:
        self.process, self.pipe = process, pipe
        self.result: Any = None
        self.error: str | None = None

    @property
    def is_finished(self) -> bool:
        return self.result is not None or self.error is not None

    def drain(self, progress: Progress | None) -> None:
        """Take every message waiting in the pipe (never blocks)."""
        try:
            while not self.is_finished and self.pipe.poll():
                kind, value = self.pipe.recv()
                if kind == "progress" and progress is not None:
                    progress(SOURCE, int(value))
                elif kind == "done":
                    self.result = value
                elif kind == "failed":
                    self.error = str(value)
        except EOFError:
            pass
        if not self.is_finished and not self.process.is_alive() and not self.pipe.poll():
            self.error = (
                f"the {self.process.name} process ended without a result "
                f"(exit code {self.process.exitcode})"
            )

    async def wait(self, progress: Progress | None, should_stop: Callable[[], bool]) -> None:
        while not self.is_finished:
            self.drain(progress)
            if should_stop():
                raise ReadStopped(SOURCE)
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)
        self.pipe.close()


def _fork(target: Callable[..., None], name: str, *args: object) -> _Child:
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(
        target=target, args=(send, *args), name=name, daemon=True
    )
    process.start()
    send.close()
    return _Child(process, receive)


def _quiet_child() -> None:
    """Signals of a forked child: the parent decides when it stops (by SIGTERM)."""
    with contextlib.suppress(ValueError):  # ValueError: not the main thread (no handlers)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a server's graceful-exit handler
        signal.set_wakeup_fd(-1)  # the parent loop's wake-up socket is not ours to write to


def _join_main(pipe: Connection, join: PartitionJoin, folder: Path) -> None:
    """The forked child joining the odd partitions: send ("done", (differences, matches))."""
    _quiet_child()
    try:
        with fewer_collections():
            for source, target in partition_pairs(folder, (1, 2)):
                join.join(source, target)
        pipe.send(("done", (join.differences, join.matches)))
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        pipe.send(("failed", f"joining failed: {type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


async def join_partitions(
    store: sa.Engine,
    folder: Path,
    join: PartitionJoin,
    *,
    parallel: bool,
    should_stop: Callable[[], bool],
) -> None:
    """Join every partition of ``folder`` into ``join`` (half of them in a child process).

    Raises:
        ReadStopped: the run was cancelled.
        SideFailed: the child failed.
    """
    child = _fork(_join_main, "recon-join", join, folder) if parallel and can_fork(store) else None
    try:
        for source, target in partition_pairs(folder, (0, 2) if child else (0, 1)):
            if should_stop():
                raise ReadStopped("join")
            with fewer_collections():
                join.join(source, target)
            await asyncio.sleep(0)  # a hub's other tasks run between partitions
        if child is not None:
            await child.wait(None, should_stop)
            if child.error is not None:
                raise SideFailed(child.error)
            differences, matches = child.result
            join.differences.extend(differences)
            join.matches += matches
    finally:
        if child is not None:
            child.stop()


async def read_sides(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    tasks: dict[str, SideTask],
    folder: Path,
    *,
    parallel: bool,
    progress: Progress | None,
    should_stop: Callable[[], bool],
) -> dict[str, SideResult]:
    """Read the sides in ``tasks`` (each to its end, marked done in ``folder``).

    Raises:
        SideFailed: a side failed; the reason names the side and the system's error.
        ReadStopped: the run was cancelled.
    """
    results: dict[str, SideResult] = {}
    child: _Child | None = None
    if parallel and SOURCE in tasks and TARGET in tasks and can_fork(store):
        child = _fork(_child_main, "recon-source", store, runtime, plan, tasks[SOURCE], folder)
    try:
        for side in (TARGET, SOURCE) if child else (SOURCE, TARGET):
            if side not in tasks or (child is not None and side == SOURCE):
                continue
            results[side] = await _read_here(
                store, runtime, plan, tasks[side], folder, progress, should_stop, child
            )
        if child is not None:
            await child.wait(progress, should_stop)
            if child.error is not None:
                raise SideFailed(f"reading {plan.source_connection} failed: {child.error}")
            assert child.result is not None  # noqa: S101 - is_finished without error
            results[SOURCE] = child.result
    finally:
        if child is not None:
            child.stop()
    return results


async def _read_here(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    task: SideTask,
    folder: Path,
    progress: Progress | None,
    should_stop: Callable[[], bool],
    child: _Child | None,
) -> SideResult:
    def report(side: str, count: int) -> None:
        if child is not None:
            child.drain(progress)
        if progress is not None:
            progress(side, count)

    def stop() -> bool:
        return should_stop() or (child is not None and child.error is not None)

    connection = plan.source_connection if task.side == SOURCE else plan.target_connection
    try:
        result = await read_side(
            store,
            runtime,
            plan,
            task,
            SideSpill(folder, task.side),
            progress=report,
            should_stop=stop,
        )
    except ConnectorError as exc:
        raise SideFailed(f"reading {connection} failed: {exc}") from exc
    except (ErpBridgeError, OSError) as exc:
        raise SideFailed(f"reading {connection} failed: {type(exc).__name__}: {exc}") from exc
    except (ReadStopped, asyncio.CancelledError):
        if child is not None and child.error is not None:
            raise SideFailed(f"reading {plan.source_connection} failed: {child.error}") from None
        raise
    except Exception as exc:
        raise SideFailed(
            f"reading {connection} failed: internal error {type(exc).__name__}: {exc}"
        ) from exc
    mark_done(folder, result)
    return result
