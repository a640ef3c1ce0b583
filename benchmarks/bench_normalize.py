"""Throughput of identity.normalize.normalize_frame on synthetic staging records (prints figures).

    .venv/bin/python benchmarks/bench_normalize.py --rows 1000000 --people 100000
    .venv/bin/python benchmarks/bench_normalize.py --person-file /tmp/person-1m [--repeat 3]

With --person-file (a benchmarks/person_file.py folder), the records are laid out as `cdp
resolve-file` lays them out and normalized in this process (`normalize_frame`) and on two worker
processes (`normalize_groups`), each run in a fresh interpreter (cold caches), alternating, with
the wall time, the CPU time of the whole process tree and the load average.

People are drawn with Faker in es_ES, es_MX, id_ID and en_US; each record takes one person and
writes some fields differently (case, spacing, phone format, date format, abbreviations), so the
number of distinct values per column is realistic rather than one per row.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where benchmarks/identity.py would shadow
# the `identity` package: put the repository root first instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import polars as pl
from faker import Faker

LOCALES = {"es_ES": "ES", "es_MX": "MX", "id_ID": "ID", "en_US": "US"}


def people(count: int, seed: int) -> pl.DataFrame:
    rows = []
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, (loc, f) in enumerate(fakers.items()):
        f.seed_instance(seed + i)
    rng = random.Random(seed)
    for i in range(count):
        loc = rng.choice(list(LOCALES))
        f = fakers[loc]
        first, last = f.first_name(), f.last_name()
        rows.append({
            "first_name": first, "last_name": last, "full_name": f"{first} {last}",
            "email": f"{first}.{last}{i}@{rng.choice(['gmail.com', 'hotmail.com', 'yahoo.com', 'mail.com'])}",
            "phone": f.phone_number(), "street": f.street_address(), "city": f.city(),
            "postcode": f.postcode(), "country": LOCALES[loc],
            "birth_date": f.date_of_birth(minimum_age=18, maximum_age=80).isoformat(),
            "social_handle": f"@{first.lower()}{i}", "user_id": f"u{i}",
        })
    return pl.DataFrame(rows)


def records(pool: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    """Sample `rows` records from the pool and vary how fields are written."""
    idx = pl.Series("i", pl.int_range(0, rows, eager=True)).shuffle(seed) % pool.height
    df = pool[idx.to_list()]
    variant = pl.int_range(0, rows, eager=True).shuffle(seed + 1) % 4
    return df.with_columns(
        source=pl.lit("web"), stream=pl.lit("web_events"),
        record_id=pl.int_range(0, rows).cast(pl.String),
        event_time=pl.lit("2026-03-01T10:15:00Z"),
        email=pl.when(variant.to_frame("v")["v"] == 1).then(pl.col("email").str.to_uppercase()).otherwise(pl.col("email")),
        first_name=pl.when(variant == 2).then(None).otherwise(pl.col("first_name").str.to_uppercase()),
        last_name=pl.when(variant == 2).then(None).otherwise(pl.col("last_name")),
        full_name=pl.when(variant == 3).then(None).otherwise(pl.col("full_name")),
        birth_date=pl.when(variant == 1).then(pl.col("birth_date").str.replace(r"^(\d{4})-(\d{2})-(\d{2})$", "$3/$2/$1"))
        .otherwise(pl.col("birth_date")),
        country=pl.when(variant == 3).then(pl.col("country").replace({"ES": "España", "MX": "México", "US": "USA", "ID": "Indonesia"}))
        .otherwise(pl.col("country")),
        street=pl.when(variant == 2).then(pl.col("street").str.to_uppercase()).otherwise(pl.col("street")),
    )


def staged_person_file(data: Path, mapping_file: Path) -> tuple[pl.DataFrame, str | None]:
    """A CSV laid out as staging records, as `identity.resolve_file.to_records` does."""
    from identity.resolve_file import _STAGING_COLUMN, _first_of, load_mapping, read_input

    frame = read_input(data)
    mapping = load_mapping(mapping_file, frame.columns)
    n = frame.height
    staging = {"source": pl.Series(["file"] * n), "record_id": frame.get_column(mapping["id"]).cast(pl.Utf8)}
    for kind, column in _STAGING_COLUMN.items():
        value = _first_of(frame, mapping["attributes"], kind)
        if value is not None:
            staging[column] = value
    return pl.DataFrame({k: v.rename(k) for k, v in staging.items()}), mapping["default_region"]


def _one_run(folder: Path, workers: int) -> None:
    """Child: normalize the person file once, print 'seconds cpu_seconds'."""
    import resource

    from identity.parallel_normalize import normalize_groups

    frame, region = staged_person_file(folder / "data.csv", folder / "mapping.yaml")
    t, cpu = time.perf_counter(), time.process_time()
    out = normalize_groups([(frame, region)], workers=workers)
    seconds = time.perf_counter() - t
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = time.process_time() - cpu + children.ru_utime + children.ru_stime
    assert out.height == frame.height
    print(f"{seconds:.2f} {cpu_seconds:.2f}")


def person_file_runs(folder: Path, repeat: int) -> None:
    import subprocess

    for run in range(repeat):
        for workers in (1, 2):
            load = os.getloadavg()[0]
            proc = subprocess.run([sys.executable, __file__, "--person-file", str(folder), "--child-workers",
                                   str(workers)], capture_output=True, text=True, check=True)
            seconds, cpu_seconds = proc.stdout.split()
            print(f"run {run + 1}: {workers} process{'es' if workers > 1 else ''}: {seconds} s wall, "
                  f"{cpu_seconds} s CPU (load before {load:.2f}, after {os.getloadavg()[0]:.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--person-file", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child-workers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.person_file and args.child_workers:
        return _one_run(args.person_file, args.child_workers)
    if args.person_file:
        return person_file_runs(args.person_file, args.repeat)

    from identity.normalize import normalize_frame

    t = time.perf_counter()
    df = records(people(args.people, args.seed), args.rows, args.seed)
    print(f"generated {df.height:,} records of {args.people:,} people in {time.perf_counter() - t:.1f}s")
    for column in ("email", "phone", "full_name", "street", "birth_date"):
        print(f"  distinct {column:<11} {df.get_column(column).n_unique():>9,}")
    for run in ("cold", "warm"):
        t, cpu = time.perf_counter(), time.process_time()
        out = normalize_frame(df, default_region="US")
        seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
        print(f"normalize_frame {run} cache: {df.height:,} rows in {seconds:.2f}s wall "
              f"({cpu_seconds:.2f}s CPU, all threads) = {df.height / seconds:,.0f} rows/s")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} (machine has {os.cpu_count()} cores)")
    print(f"  valid emails {out.get_column('email').count():,}, valid phones {out.get_column('phone').count():,}, "
          f"birth dates {out.get_column('birth_date').count():,}, split names {out.get_column('last_name').count():,}")


if __name__ == "__main__":
    main()
