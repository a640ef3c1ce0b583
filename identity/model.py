"""The Fellegi-Sunter model: m and u per comparison level, the prior, and how it was trained.

m = P(level | the pair is one person), u = P(level | two random people). A level's weight is
log2(m / u) bits; a pair's match weight is the prior's log-odds plus the sum of its levels'
weights, and its match probability is 2^w / (1 + 2^w). The model is stored per run in
`identity.match_weights` and shown by `cdp model`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

from identity.comparisons import Comparison

FLOOR = 1e-9


@dataclass
class MatchModel:
    m: dict[str, dict[int, float]]
    u: dict[str, dict[int, float]]
    prior: float                        # P(two random signatures are one person)
    level_names: dict[str, dict[int, str]] = field(default_factory=dict)
    training: dict = field(default_factory=dict)   # method, sessions, iterations, convergence

    def weight(self, comparison: str, code: int) -> float:
        if code < 0:
            return 0.0
        m = max(self.m.get(comparison, {}).get(code, FLOOR), FLOOR)
        u = max(self.u.get(comparison, {}).get(code, FLOOR), FLOOR)
        return math.log2(m / u)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def covers(self, comparisons: tuple[Comparison, ...]) -> bool:
        return all(c.name in self.m for c in comparisons)

    def to_frame(self, run_id: str) -> pl.DataFrame:
        rows = []
        for comp, levels in self.m.items():
            names = self.level_names.get(comp, {})
            for code in sorted(levels, reverse=True):
                rows.append({
                    "comparison": comp, "level": code, "level_name": names.get(code, str(code)),
                    "m_probability": levels[code], "u_probability": self.u.get(comp, {}).get(code),
                    "match_weight": self.weight(comp, code), "run_id": run_id,
                })
        rows.append({"comparison": "_prior", "level": -1, "level_name": "P(two random records match)",
                     "m_probability": self.prior, "u_probability": None,
                     "match_weight": self.prior_weight, "run_id": run_id})
        return pl.DataFrame(rows, schema={
            "comparison": pl.Utf8, "level": pl.Int8, "level_name": pl.Utf8, "m_probability": pl.Float64,
            "u_probability": pl.Float64, "match_weight": pl.Float64, "run_id": pl.Utf8})

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> "MatchModel":
        m: dict[str, dict[int, float]] = {}
        u: dict[str, dict[int, float]] = {}
        names: dict[str, dict[int, str]] = {}
        prior = 1e-4
        for row in frame.iter_rows(named=True):
            if row["comparison"] == "_prior":
                prior = row["m_probability"]
                continue
            m.setdefault(row["comparison"], {})[row["level"]] = row["m_probability"]
            u.setdefault(row["comparison"], {})[row["level"]] = row["u_probability"]
            names.setdefault(row["comparison"], {})[row["level"]] = row["level_name"]
        return cls(m=m, u=u, prior=prior, level_names=names)

    def describe(self) -> str:
        """The model as a table a person can read: m, u and the weight of every level."""
        lines = [f"prior P(match) of two random records: {self.prior:.3g} ({self.prior_weight:+.1f} bits)"]
        if self.training:
            t = self.training
            lines.append(f"trained by {t.get('method')}: {t.get('summary', '')}")
        lines.append(f"{'comparison':<18} {'level':<28} {'m':>9} {'u':>9} {'weight':>8}")
        for comp, levels in self.m.items():
            for code in sorted(levels, reverse=True):
                name = self.level_names.get(comp, {}).get(code, str(code))
                lines.append(f"{comp:<18} {name:<28} {levels[code]:>9.4f} {self.u[comp].get(code, 0):>9.2g} "
                             f"{self.weight(comp, code):>+8.2f}")
        return "\n".join(lines)


def initial_m(comparisons: tuple[Comparison, ...]) -> dict[str, dict[int, float]]:
    """EM's starting point: a match mostly agrees exactly, rarely disagrees."""
    out = {}
    for comp in comparisons:
        codes = sorted((c for c in comp.codes.values() if c >= 0), reverse=True)
        start = {codes[0]: 0.85}
        rest = codes[1:]
        for code in rest:
            start[code] = 0.15 / len(rest)
        out[comp.name] = start
    return out


def level_names(comparisons: tuple[Comparison, ...]) -> dict[str, dict[int, str]]:
    return {c.name: {code: name for name, code in c.codes.items() if code >= 0} for c in comparisons}
