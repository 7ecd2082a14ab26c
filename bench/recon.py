"""Recon throughput and memory: N source x N target records of 20 fields, read from files.

    python bench/recon.py [--records 100000] [--pandas]

Source and target are JSON-lines files read by a small file connector defined here (not
over HTTP, to measure the recon itself); 0.1% of the keys differ in each way (missing in
the target, missing in the source, one field different, duplicated in the target). The
source side goes through a compiled 20-field mapping, as a real run does. Reports wall
time, records/s, the CPU seconds and peak RSS of this process and of the forked processes
(the source side, half of the join), whether exactly the planted differences were found,
and (with --pandas, if pandas is installed) the time of a straightforward pandas merge of
the same files and the ratio to it. The files are decoded with orjson.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from erpbridge.config import load_project_text  # noqa: E402
from erpbridge.engine.clock import SystemClock  # noqa: E402
from erpbridge.engine.plans import build_plans  # noqa: E402
from erpbridge.engine.recon import ReconOptions, run_recon  # noqa: E402
from erpbridge.engine.runtime import Runtime  # noqa: E402
from erpbridge.spi import (  # noqa: E402
    ChangePage,
    ConnectionSettings,
    ConnectorRegistry,
    ConnectorSpec,
    Cursor,
    Limits,
    Record,
)
from erpbridge.store import open_store  # noqa: E402

FIELDS = 20

from orjson import loads as _loads  # noqa: E402 - the decoder the connectors use


class JsonLinesSide:
    """Reads one JSON-lines file as an object's records, in pages."""

    system = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.limits = Limits(concurrency=1, timeout_s=600)

    async def read_changes(
        self, object: str, cursor: Cursor | None, page_size: int
    ) -> AsyncIterator[ChangePage]:
        page: list[Record] = []
        with self.path.open("rb") as handle:
            for line in handle:
                data = _loads(line)
                page.append(Record(object=object, id=data["id"], fields=data))
                if len(page) >= page_size:
                    yield ChangePage(records=page, cursor=None)
                    page = []
        if page:
            yield ChangePage(records=page, cursor=None)

    async def aclose(self) -> None:
        return None


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _project() -> str:
    rules = "\n".join(f"      T{i}: source.F{i}" for i in range(FIELDS))
    return f"""\
connections:
  src: {{type: file}}
  dst: {{type: file}}
flows:
  bench:
    source: {{connection: src, object: Thing}}
    target: {{connection: dst, object: Thing, write: upsert, key: Key}}
    map:
      Key: source.Code
{rules}
"""


def generate(folder: Path, count: int, seed: int = 7) -> tuple[Path, Path, dict[str, int]]:
    rng = random.Random(seed)
    src, dst = folder / "source.jsonl", folder / "target.jsonl"
    planted = {"missing_in_target": 0, "missing_in_source": 0, "field": 0, "duplicate_target": 0}
    every = 1000  # 0.1% of each kind
    with src.open("w", encoding="utf-8") as s, dst.open("w", encoding="utf-8") as t:
        for n in range(count):
            values = {
                f"F{i}": (f"{rng.random() * 10000:.2f}" if i % 3 == 0 else f"值{n}-{i}")
                for i in range(FIELDS)
            }
            s.write(
                json.dumps({"id": f"S{n}", "Code": f"K{n:08d}", **values}, ensure_ascii=False)
                + "\n"
            )
            target = {
                "id": f"T{n}",
                "Key": f"K{n:08d}",
                **{f"T{i}": values[f"F{i}"] for i in range(FIELDS)},
            }
            kind = n % every
            if kind == 1:
                planted["missing_in_target"] += 1
                continue
            if kind == 2:
                target["T5"] = "changed"
                planted["field"] += 1
            t.write(json.dumps(target, ensure_ascii=False) + "\n")
            if kind == 3:
                t.write(json.dumps({**target, "id": f"T{n}b"}, ensure_ascii=False) + "\n")
                planted["duplicate_target"] += 1
            if kind == 4:
                extra = {**target, "id": f"X{n}", "Key": f"X{n:08d}"}
                t.write(json.dumps(extra, ensure_ascii=False) + "\n")
                planted["missing_in_source"] += 1
    return src, dst, planted


async def recon(folder: Path, src: Path, dst: Path) -> tuple[float, dict[str, object]]:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(
        ConnectorSpec(name="file", settings=ConnectionSettings, create=lambda s, h: None)
    )  # type: ignore[arg-type,return-value]
    project = load_project_text(
        _project(), path=folder / "bench.yaml", registry=registry, environ={}
    )
    runtime = Runtime(
        project, registry, connectors={"src": JsonLinesSide(src), "dst": JsonLinesSide(dst)}
    )  # type: ignore[dict-item]
    store = open_store(f"sqlite:///{folder / 'store.db'}")
    plan = build_plans(project)["bench"]
    started = time.perf_counter()
    cpu_before = _cpu()
    result = await run_recon(store, runtime, plan, ReconOptions(page_size=5000), SystemClock())
    cpu = [round(after - before, 1) for after, before in zip(_cpu(), cpu_before, strict=True)]
    return time.perf_counter() - started, {
        "cpu_s_this_process": cpu[0],
        "cpu_s_source_process": cpu[1],
        "state": result.state,
        "matches": result.matches,
        "kinds": result.totals.get("kinds"),
    }


def pandas_merge(src: Path, dst: Path) -> tuple[float, float] | None:
    """(wall seconds, CPU seconds) of a straightforward pandas merge of the same files."""
    try:
        import pandas as pd
    except ImportError:
        return None
    started, cpu = time.perf_counter(), time.process_time()
    left = pd.read_json(src, lines=True, dtype=str)
    right = pd.read_json(dst, lines=True, dtype=str)
    left = left.rename(columns={"Code": "Key", **{f"F{i}": f"T{i}" for i in range(FIELDS)}})
    merged = left.merge(right, on="Key", how="outer", suffixes=("_s", "_t"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    _ = sum(int((both[f"T{i}_s"] != both[f"T{i}_t"]).sum()) for i in range(FIELDS))
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--pandas", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src, dst, planted = generate(folder, args.records)
        elapsed, found = asyncio.run(recon(folder, src, dst))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        kinds = found.get("kinds") or {}
        exact = {k: v["records"] for k, v in kinds.items()} == planted  # type: ignore[union-attr]
        line: dict[str, object] = {
            "records": args.records,
            "seconds": round(elapsed, 1),
            "records_per_s": round(2 * args.records / elapsed),
            "peak_rss_mb": round(rss, 1),
            "child_peak_rss_mb": round(child_rss, 1),
            "exactly_planted": exact,
            "planted": planted,
            "found": found,
        }
        if args.pandas:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            measured = pandas_merge(src, dst)
            if measured:
                line["pandas_seconds"], line["pandas_cpu_s"] = (round(t, 1) for t in measured)
                line["pandas_ratio"] = round(measured[0] / elapsed, 2)
                after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                line["pandas_peak_rss_mb"] = round(after, 1) if after > before else "<= recon's"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
