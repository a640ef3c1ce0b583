"""Shared pieces of the file benchmarks: a dataset's files, a measured child process, scoring.

A benchmark dataset is a folder holding `data.csv` (the records), `mapping.yaml` (what
`cdp resolve-file` reads), `truth.parquet` (record_id -> person_id) and `spec.json` (the same
mapping plus what the Splink baseline needs to parse dates). `benchmarks/febrl.py` and
`benchmarks/person_file.py` write such folders; `benchmarks/identity.py` runs both systems on them.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

SOURCE = "file"  # identity.evaluation keys records by (source, record_id); a file has one source


@dataclass
class DatasetFiles:
    name: str
    folder: Path
    id_column: str
    attributes: dict[str, str]  # column -> kind (the resolve-file mapping)
    default_region: str | None = None
    # For the Splink baseline, which parses dates itself (strptime formats tried in order; rows
    # whose country column holds one of `month_first_countries` try `dob_formats_month_first`).
    dob_formats: list[str] = field(default_factory=lambda: ["%Y-%m-%d"])
    dob_formats_month_first: list[str] = field(default_factory=list)
    month_first_countries: list[str] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    @property
    def csv(self) -> Path:
        return self.folder / "data.csv"

    @property
    def mapping(self) -> Path:
        return self.folder / "mapping.yaml"

    @property
    def truth(self) -> Path:
        return self.folder / "truth.parquet"

    @property
    def spec(self) -> Path:
        return self.folder / "spec.json"

    def write_descriptors(self) -> None:
        """mapping.yaml for `cdp resolve-file`, spec.json for the Splink baseline."""
        mapping = {"id": self.id_column, "attributes": dict(self.attributes)}
        if self.default_region:
            mapping["default_region"] = self.default_region
        header = f"# {self.name}: written by benchmarks/ (which column is what)\n"
        self.mapping.write_text(header + yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
        spec = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        spec["csv"] = str(self.csv)
        self.spec.write_text(json.dumps(spec, indent=1), encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> "DatasetFiles":
        spec = json.loads((Path(folder) / "spec.json").read_text(encoding="utf-8"))
        spec.pop("csv", None)
        spec["folder"] = Path(spec["folder"])
        return cls(**spec)


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of `root` and all its descendants now (0 once gone)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_measured(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run `cmd`; wall time, peak RSS and output.

    peak_rss_mb is the larger of the kernel's ru_maxrss for this child (from wait4: the child's
    own peak, or its largest descendant's) and the peak of the whole process tree's summed RSS
    sampled every 50 ms (worker processes running at once add up; ru_maxrss alone would show
    only the largest of them).
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        peak_tree = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.is_set():
                peak_tree = max(peak_tree, _tree_rss_bytes(proc.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, 9))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            done.set()
            sampler.join()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    timed_out = wall >= timeout and proc.returncode == -9
    return {
        "returncode": proc.returncode, "wall_s": wall, "timed_out": timed_out,
        "peak_rss_mb": max(usage.ru_maxrss / 1024, peak_tree / 2**20),
        "maxrss_mb": usage.ru_maxrss / 1024, "tree_peak_mb": peak_tree / 2**20,
        "stdout": stdout, "stderr": stderr,
    }


def score(assignment, truth_path: Path) -> dict:
    """Pairwise figures of `assignment` (record_id, customer_id) against truth (record_id, person_id),
    counted per group by identity.evaluation.evaluate."""
    import polars as pl

    from identity.evaluation import evaluate

    rm = assignment.select(
        pl.lit(SOURCE).alias("source"), pl.col("record_id").cast(pl.Utf8),
        pl.col("customer_id").cast(pl.Utf8))
    truth = pl.read_parquet(truth_path).select(
        pl.lit(SOURCE).alias("source"), pl.col("record_id").cast(pl.Utf8), pl.col("person_id").cast(pl.Utf8))
    return evaluate(rm, truth)


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
