"""Normalize staging records on every core: the caller side of `normalize_frame`.

Normalization is per-distinct-value Python (phonenumbers, name folding) and holds the GIL, so on a
large run it is the longest step (measured at 1M generated records: ~19 s of ~57 s, 2/3 of it in
phone parsing). Records are split into one part per worker by a hash of their phone (else email,
else name), so every distinct phone -- the costly value -- is parsed in one worker only, and the
parts are normalized in fresh interpreters (`python -m identity.parallel_normalize`, Arrow IPC on
stdin/stdout): fork is unsafe once Polars' thread pool runs, and multiprocessing's spawn would
re-run the caller's main script in every worker.
`normalize_frame` is row-wise, so the union of the parts equals one call on the whole frame.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading

import polars as pl

from identity.normalize import normalize_frame
from identity.normalize.frame import OUTPUT_SCHEMA

# Below this many records, starting worker processes costs more than it saves.
PARALLEL_MIN_RECORDS = 150_000


def _to_ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


def _normalize_part(payload: bytes, default_region: str | None) -> bytes:
    frame = pl.read_ipc(io.BytesIO(payload))
    return _to_ipc(normalize_frame(frame, default_region=default_region))


def worker_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _partition_key(frame: pl.DataFrame) -> pl.Expr:
    keys = [pl.col(c).cast(pl.Utf8) for c in ("phone", "email", "full_name", "last_name") if c in frame.columns]
    return pl.coalesce(keys + [pl.lit("")]).hash(seed=17)


def _mostly_repeated(groups: list[tuple[pl.DataFrame, str | None]], total: int) -> bool:
    """True when most records repeat another's personal fields (a stream of events).

    normalize_frame works once per distinct PII row, so there the per-value work is small and
    shipping every record to a worker and back costs more than it saves. Measured at 200k generated
    customers (3.29M records, 721k distinct PII rows): 20 s and 5.3 GB in one process against
    35-45 s and 7.7 GB plus 5.8 GB per worker in two; on a 1M-record customer file (every row
    distinct) two workers took 42.8 s against 47.7 s in one.
    """
    from identity.normalize.frame import _PII_COLUMNS

    distinct = 0
    for frame, _ in groups:
        cols = [c for c in _PII_COLUMNS if c in frame.columns]
        if cols:
            distinct += frame.select(pl.struct(cols).hash(seed=0x5EED)).n_unique()
    return distinct < 0.5 * total


def normalize_groups(
    groups: list[tuple[pl.DataFrame, str | None]], workers: int | None = None
) -> pl.DataFrame:
    """normalize_frame over (records, default_region) groups, in parallel when they are large."""
    workers = workers or worker_count()
    total = sum(frame.height for frame, _ in groups)
    if workers < 2 or total < PARALLEL_MIN_RECORDS or _mostly_repeated(groups, total):
        parts = [normalize_frame(frame, default_region=region) for frame, region in groups if frame.height]
        return pl.concat(parts) if parts else pl.DataFrame(schema=OUTPUT_SCHEMA)
    jobs = []
    for frame, region in groups:
        if frame.height == 0:
            continue
        bucket = frame.select((_partition_key(frame) % workers).alias("_part"))["_part"]
        for part in range(workers):
            chunk = frame.filter(bucket == part)
            if chunk.height:
                jobs.append((chunk, region))
    results: list[bytes | None] = [None] * len(jobs)
    errors: list[str] = []

    def run(index: int, chunk: pl.DataFrame, region: str | None) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "identity.parallel_normalize", region or ""],
            input=_to_ipc(chunk), capture_output=True, check=False,
        )
        if proc.returncode != 0:
            # the exception type only: its message may quote a record's value
            last = (proc.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
            errors.append(f"{last.split(':', 1)[0] or 'exit ' + str(proc.returncode)} in part {index}")
        else:
            results[index] = proc.stdout

    # at most `workers` interpreters at a time, each fed one part
    for start in range(0, len(jobs), workers):
        threads = [threading.Thread(target=run, args=(i, *jobs[i])) for i in range(start, min(start + workers, len(jobs)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise RuntimeError(f"normalization worker failed: {errors[0]}")
    parts = [pl.read_ipc(io.BytesIO(payload)) for payload in results]
    return pl.concat(parts) if parts else pl.DataFrame(schema=OUTPUT_SCHEMA)


def _worker_main() -> int:
    """Read Arrow IPC records on stdin, write their normalization as Arrow IPC on stdout."""
    region = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
    sys.stdout.buffer.write(_normalize_part(sys.stdin.buffer.read(), region))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
