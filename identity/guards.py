"""Guards: evidence rules a probabilistic link must pass, stated in comparison level names.

A score adds evidence up; a guard says what kind of evidence is never enough, or what conflict no
sum of agreements outweighs (a name alone; two different dates of birth). Each guard is a rule in
`config/identity.yaml`:

    require_any: {kind: [level, ...], ...}   the link needs one of these to hold
    refuse_when: {kind: [level, ...], ...}   the link is refused when one of these holds ...
    unless:      {kind: [level, ...], ...}   ... and none of these does

Keys are comparison kinds (first_name, birth_date, email, id, text, ...), levels are the level
names of `identity.comparisons` ("else" is disagreement). A term whose kind the data lacks drops
out: a `refuse_when` guard with nothing left is off for that data, and said so; a `require_any`
guard with nothing left refuses every link (there is no evidence of the kind it asks for).
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from identity.comparisons import Comparison, comparisons_for, NAMED_COLUMNS

KINDS = ("first_name", "last_name", "birth_date", "email", "phone", "national_id", "id", "street",
         "house_number", "postcode", "city", "region", "country", "gender", "text")


class GuardError(ValueError):
    pass


def _reference() -> dict[str, set[str]]:
    """Level names per kind, from the library itself (so config is checked without data)."""
    every = comparisons_for(list(NAMED_COLUMNS) + ["id__x", "text__x"])
    names: dict[str, set[str]] = {}
    for comp in every:
        names.setdefault(comp.kind, set()).update(comp.codes)
    return names


def validate(guards: dict) -> None:
    """Every guard names known kinds and levels; raise GuardError listing all problems."""
    ref = _reference()
    problems = []
    for gname, guard in guards.items():
        for part in ("require_any", "refuse_when", "unless"):
            for kind, levels in (getattr(guard, part) or {}).items():
                if kind not in ref:
                    problems.append(f"guards.{gname}.{part}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
                    continue
                for level in levels:
                    if level not in ref[kind]:
                        problems.append(f"guards.{gname}.{part}.{kind}: unknown level {level!r}; "
                                        f"levels: {', '.join(sorted(ref[kind]))}")
        if guard.require_any and guard.refuse_when:
            problems.append(f"guards.{gname}: use either require_any or refuse_when (+ unless), not both")
    if problems:
        raise GuardError("invalid guards:\n  " + "\n  ".join(problems))


def _holds(terms: dict[str, list[str]], comparisons: tuple[Comparison, ...]) -> pl.Expr | None:
    exprs = []
    for kind, levels in (terms or {}).items():
        for comp in comparisons:
            if comp.kind == kind or comp.name == kind:
                codes = [comp.codes[lvl] for lvl in levels if lvl in comp.codes]
                if codes:
                    exprs.append(pl.col(comp.name).is_in(codes))
    if not exprs:
        return None
    return pl.any_horizontal(exprs)


@dataclass
class CompiledGuard:
    name: str
    refuses: pl.Expr | None      # None: off for this data
    note: str


def compile_guards(guards: dict, comparisons: tuple[Comparison, ...]) -> list[CompiledGuard]:
    out = []
    for name, guard in guards.items():
        if not guard.enabled:
            out.append(CompiledGuard(name, None, "disabled in config"))
            continue
        if guard.require_any:
            ok = _holds(guard.require_any, comparisons)
            out.append(CompiledGuard(name, ~ok if ok is not None else pl.lit(True),
                                     "active" if ok is not None else "active: the data has none of the "
                                     "evidence it asks for, so it refuses every link"))
            continue
        bad = _holds(guard.refuse_when, comparisons)
        if bad is None:
            out.append(CompiledGuard(name, None, "off: the data lacks the fields it needs"))
            continue
        unless = _holds(guard.unless, comparisons)
        out.append(CompiledGuard(name, bad & ~unless if unless is not None else bad, "active"))
    return out


def apply_guards(pairs: pl.DataFrame, compiled: list[CompiledGuard]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted, refused with `reason` = the first guard that refused the pair)."""
    refused = []
    for guard in compiled:
        if guard.refuses is None or pairs.height == 0:
            continue
        mask = pairs.select(guard.refuses.alias("x")).to_series().fill_null(False)
        if mask.any():
            refused.append(pairs.filter(mask).with_columns(pl.lit(guard.name).alias("reason")))
            pairs = pairs.filter(~mask)
    refused_frame = pl.concat(refused, how="vertical_relaxed") if refused else pairs.clear().with_columns(
        pl.lit(None, pl.Utf8).alias("reason"))
    return pairs, refused_frame
