"""A seeded generator of hostile source files, with the number of records each file holds.

Every kind of damage issue 9 found is here, mixed with good records across many files of every
stream: lines that are not JSON (cut off, arrays, bare strings), stray CRs and 0x01 bytes inside
lines, CRLF files, bytes that are not UTF-8 (latin-1), blank and whitespace keys, missing keys,
numeric ids, integers beyond 2^63, dates before year 1 and far in the future, wrong types, unknown
fields, every Segment call type, sentAt/receivedAt without timestamp, duplicates inside a file and
across files, CSV rows with quoted newlines, unterminated quotes, all-comma rows, extra and missing
fields, NUL bytes, blank lines, empty files and gzip.

`records` of a written file is what a careful reader must count as rows: every line that is not
empty or whitespace (NDJSON), every CSV record after the header (a quoted value spanning lines is
one record; a line with an unterminated quote is one record of its own).
"""
from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

HOSTILE_JSON = (
    "cut", "array", "string", "number", "cr_in_string", "x01_in_string", "latin1", "blank_key", "tab_key",
    "missing_key", "huge_int", "year_zero", "bc_date", "future", "wrong_type", "nul_byte", "bad_type_value",
    "not_object_nested",
)
HOSTILE_CSV = ("unterminated", "all_commas", "latin1", "extra_field", "missing_field", "blank_key", "nul",
               "bad_number", "bad_date", "future", "cr_in_line")


@dataclass
class FuzzFile:
    source: str
    stream: str
    path: Path
    key: str = ""
    records: int = 0
    hostile: int = 0
    good_keys: list[str] = field(default_factory=list)
    # physical line number -> the record's first physical line text (bytes as written, CR dropped)
    lines: dict[int, bytes] = field(default_factory=dict)


class Fuzzer:
    def __init__(self, root: Path, seed: int):
        self.root = root
        self.rng = random.Random(seed)
        self.files: list[FuzzFile] = []
        self._seq = 0
        self.seen_keys: dict[str, list[str]] = {}

    # -- helpers ---------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def _ts(self) -> str:
        r = self.rng
        return f"2026-01-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00.000Z"

    def _reuse(self, stream: str) -> str | None:
        keys = self.seen_keys.get(stream)
        return self.rng.choice(keys) if keys and self.rng.random() < 0.5 else None

    # -- NDJSON ------------------------------------------------------------------------------------
    def _segment_good(self, source: str) -> dict:
        r = self.rng
        kind = r.choice(["page", "screen", "track", "identify", "group", "alias"])
        e: dict = {"messageId": self._id(f"{source}-"), "type": kind, "anonymousId": f"anon-{r.randint(1, 50)}"}
        if r.random() < 0.15:
            # No timestamp: Segment's clock-skew correction from the three others.
            e.update(sentAt="2026-01-02T10:00:05.000Z", receivedAt="2026-01-02T10:00:06.000Z",
                     originalTimestamp="2026-01-02T10:00:00.000Z")
        else:
            e["timestamp"] = self._ts()
        if kind == "track":
            e["event"] = r.choice(["Product Viewed", "Order Completed"])
            e["properties"] = {"revenue": r.choice([12.5, 3, "n/a"]), "order_id": f"O{r.randint(1, 99)}"}
        if kind == "identify":
            e["userId"] = r.choice([f"u-{r.randint(1, 99)}", r.randint(1, 10 ** 6)])  # numeric ids are ids
            e["traits"] = {"email": f"p{r.randint(1, 999)}@mail.example.es", "phone": "(512) 354-4173"}
        if kind == "group":
            e["groupId"] = r.choice([f"acme-{r.randint(1, 9)}", r.randint(1, 99)])
            e["traits"] = {"name": "Acme", "employees": 12}
        if kind == "alias":
            e["previousId"] = f"anon-{r.randint(1, 50)}"
            e["userId"] = f"u-{r.randint(1, 99)}"
        if kind in ("page", "screen"):
            e["name"] = "Home"
        if r.random() < 0.2:
            e["context"] = {"traits": {"email": "ctx@mail.example.es"}, "locale": "es-ES"}
        if r.random() < 0.2:
            e["integrations"] = {"All": True, "Mixpanel": False}
        if r.random() < 0.15:
            e["_metadata"] = {"bundled": ["Segment.io"]}
            e["version"] = 2
        return e

    def _profile_good(self) -> dict:
        r = self.rng
        return {"profile_id": self._id("P"), "handle": f"@h{r.randint(1, 999)}", "display_name": "Ana",
                "followers": r.randint(0, 10 ** 6), "created_at": "2020-01-01T00:00:00Z", "updated_at": self._ts()}

    def _interaction_good(self) -> dict:
        r = self.rng
        return {"interaction_id": self._id("I"), "handle": f"@h{r.randint(1, 999)}",
                "type": r.choice(["follow", "comment", "like", "share"]), "timestamp": self._ts()}

    def _hostile_json(self, good: dict, key: str, kind: str) -> bytes:
        g = dict(good)
        if kind == "cut":
            return json.dumps(g).encode()[: self.rng.randint(1, 20)]
        if kind == "array":
            return json.dumps([g]).encode()
        if kind == "string":
            return b'"just a string"'
        if kind == "number":
            return b"12345"
        if kind == "cr_in_string":
            return json.dumps(g).replace(key, key + "\\r", 1).encode().replace(b"\\r", b"\r", 1)
        if kind == "x01_in_string":
            return json.dumps(g).encode().replace(b'":', b'\x01":', 1)
        if kind == "latin1":
            return json.dumps(g, ensure_ascii=False).encode("utf-8")[:-1] + ', "n": "Jos\xe9"}'.encode("latin-1")
        if kind == "blank_key":
            g[key] = " " * self.rng.randint(0, 3)
        elif kind == "tab_key":
            g[key] = "\t "
        elif kind == "missing_key":
            g.pop(key, None)
        elif kind == "huge_int":
            g["followers" if "profile_id" in g else "messageId" if key == "messageId" else key] = \
                self.rng.choice([2 ** 63, 10 ** 25, -(2 ** 64)])
            if "profile_id" not in g:
                g[key] = {"not": "an id"}
        elif kind == "year_zero":
            g[self._time_field(g)] = "0000-06-01T00:00:00Z"
        elif kind == "bc_date":
            g[self._time_field(g)] = "-0100-06-01T00:00:00Z"
        elif kind == "future":
            g[self._time_field(g)] = "2999-01-01T00:00:00Z"
        elif kind == "wrong_type":
            g[self._time_field(g)] = 1767261600
        elif kind == "nul_byte":
            return json.dumps(g).encode().replace(b'":', b'\x00":', 1)
        elif kind == "bad_type_value":
            g["type"] = "teleport"
        elif kind == "not_object_nested":
            g["context" if "messageId" in g else key] = ["x"] if "messageId" in g else None
            if "messageId" not in g:
                g.pop(key, None)
        return json.dumps(g, ensure_ascii=False).encode("utf-8")

    @staticmethod
    def _time_field(g: dict) -> str:
        for name in ("timestamp", "updated_at"):
            if name in g:
                return name
        return "timestamp"

    def ndjson_file(self, source: str, stream: str, name: str, n: int, make_good, key: str, gz: bool = False,
                    crlf: bool = False) -> FuzzFile:
        folder = self.root / source
        folder.mkdir(parents=True, exist_ok=True)
        out = FuzzFile(source, stream, folder / (name + (".gz" if gz else "")), key)
        body: list[bytes] = []
        # At least one good object per file: a file with no JSON object at all is refused as
        # "not an NDJSON file" (by design), which this suite does not count on.
        for i in range(n):
            r = self.rng.random()
            if r < 0.04:
                body.append(self.rng.choice([b"", b"   ", b"\t"]))  # blank lines: no record
                continue
            good = make_good()
            reused = self._reuse(stream)
            if r < 0.12 and reused is not None:
                good[key] = reused  # a duplicate key, in this file or an earlier one
            if i > 0 and r < 0.55:
                line = self._hostile_json(good, key, self.rng.choice(HOSTILE_JSON))
                out.hostile += 1
            else:
                line = json.dumps(good, ensure_ascii=False).encode("utf-8")
                if isinstance(good.get(key), str) and good[key].strip():
                    self.seen_keys.setdefault(stream, []).append(good[key])
                    out.good_keys.append(good[key])
            body.append(line)
            out.records += 1
            out.lines[len(body)] = line
        eol = b"\r\n" if crlf else b"\n"
        data = eol.join(body) + (eol if self.rng.random() < 0.8 else b"")
        out.path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        self.files.append(out)
        return out

    # -- CSV ---------------------------------------------------------------------------------------
    def csv_file(self, source: str, stream: str, name: str, header: list[str], n: int, make_row, key: str,
                 latin1_ok: bool = True) -> FuzzFile:
        folder = self.root / source
        folder.mkdir(parents=True, exist_ok=True)
        out = FuzzFile(source, stream, folder / name, key)
        lines: list[bytes] = [",".join(header).encode()]
        for i in range(n):
            r = self.rng.random()
            if r < 0.03:
                lines.append(b"")
                continue
            row = make_row()
            reused = self._reuse(stream)
            if r < 0.1 and reused is not None:
                row[header.index(key)] = reused
            kind = self.rng.choice(HOSTILE_CSV) if i > 0 and r < 0.55 else None
            if kind == "latin1" and not latin1_ok:
                kind = "bad_number"
            start = len(lines) + 1
            if kind is None and self.rng.random() < 0.1:
                # A quoted value holding a newline: one record over two physical lines.
                idx = header.index("full_name" if "full_name" in header else "first_name")
                row[idx] = '"Ana\nMaria"'
                text = ",".join(row).encode()
                lines.extend(text.split(b"\n"))
                self.seen_keys.setdefault(stream, []).append(row[header.index(key)])
                out.good_keys.append(row[header.index(key)])
            else:
                text = self._hostile_csv(row, header, key, kind) if kind else ",".join(row).encode()
                if kind:
                    out.hostile += 1
                elif row[header.index(key)].strip():
                    self.seen_keys.setdefault(stream, []).append(row[header.index(key)])
                    out.good_keys.append(row[header.index(key)])
                lines.append(text)
            out.records += 1
            out.lines[start] = lines[start - 1]
        data = b"\n".join(lines) + b"\n"
        out.path.write_bytes(data)
        self.files.append(out)
        return out

    def _hostile_csv(self, row: list[str], header: list[str], key: str, kind: str) -> bytes:
        row = list(row)
        if kind == "unterminated":
            idx = header.index("city" if "city" in header else "billing_city")
            row[idx] = '"Madrid'  # a quote that never closes, followed by a letter
        elif kind == "all_commas":
            return b"," * (len(header) - 1)
        elif kind == "latin1":
            idx = header.index("full_name" if "full_name" in header else "first_name")
            row[idx] = "Jos\xe9"
            return ",".join(row).encode("latin-1")
        elif kind == "extra_field":
            row.append("surprise")
        elif kind == "missing_field":
            row = row[:-2]
        elif kind == "blank_key":
            row[header.index(key)] = self.rng.choice(["", " ", "\t"])
        elif kind == "nul":
            return ",".join(row).encode().replace(b",", b"\x00,", 1)
        elif kind == "bad_number":
            col = "amount" if "amount" in header else "consent_marketing"
            row[header.index(col)] = self.rng.choice(["abc", "1e400", "99999999999999999999999"])
        elif kind == "bad_date":
            col = "created_at" if "created_at" in header else "submitted_at"
            row[header.index(col)] = self.rng.choice(["0000-01-01T00:00:00Z", "-0001-01-01", "yesterday"])
        elif kind == "future":
            col = "created_at" if "created_at" in header else "submitted_at"
            row[header.index(col)] = "2999-01-01T00:00:00Z"
        elif kind == "cr_in_line":
            return ",".join(row).encode().replace(b",", b"\r,", 1)
        return ",".join(row).encode("utf-8")

    def empty_file(self, source: str, stream: str, name: str) -> FuzzFile:
        folder = self.root / source
        folder.mkdir(parents=True, exist_ok=True)
        out = FuzzFile(source, stream, folder / name)
        out.path.write_bytes(b"")
        self.files.append(out)
        return out


LEAD_HEADER = ["lead_id", "form_id", "profile_id", "handle", "submitted_at", "full_name", "email", "phone", "city",
               "country", "consent_marketing"]
ORDER_HEADER = ["order_id", "channel", "created_at", "updated_at", "status", "amount", "currency", "items",
                "customer_account_id", "email", "phone", "first_name", "last_name", "billing_street",
                "billing_city", "billing_postcode", "billing_region", "billing_country"]


def generate(root: Path, seed: int, files_per_stream: int = 10, records_per_file: int = 160) -> Fuzzer:
    f = Fuzzer(root, seed)
    rng = f.rng

    def lead() -> list[str]:
        return [f._id("L"), "form_a", "", f"@h{rng.randint(1, 99)}", f._ts(), "Ana Gomez",
                f"a{rng.randint(1, 999)}@mail.example.es", "", "Madrid", "ES", rng.choice(["true", "false"])]

    def order() -> list[str]:
        ts = f._ts()
        return [f._id("S"), "store", ts, ts, "completed", f"{rng.randint(1, 999)}.50", "EUR", "",
                "", "o@mail.example.es", "", "Ana", "Gomez", "Calle 1", "Madrid", "28001", "Madrid", "ES"]

    for i in range(files_per_stream):
        day = f"2026-01-{i + 1:02d}"
        for source in ("web", "app"):
            f.ndjson_file(source, f"{source}_events", f"events_{day}.ndjson", records_per_file,
                          lambda source=source: f._segment_good(source), "messageId", gz=(i % 4 == 1),
                          crlf=(i % 5 == 2))
        f.ndjson_file("social", "social_profiles", f"profiles_{day}.ndjson", records_per_file, f._profile_good,
                      "profile_id", gz=(i % 4 == 3))
        f.ndjson_file("social", "social_interactions", f"interactions_{day}.ndjson", records_per_file,
                      f._interaction_good, "interaction_id")
        f.csv_file("social", "social_leads", f"leads_{day}.csv", LEAD_HEADER, records_per_file, lead, "lead_id")
        f.csv_file("transactions", "orders", f"orders_{day}.csv", ORDER_HEADER, records_per_file, order, "order_id")
    f.empty_file("web", "web_events", "events_2026-02-01.ndjson")
    f.empty_file("social", "social_leads", "leads_2026-02-01.csv")
    return f
