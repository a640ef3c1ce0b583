"""Guards: evidence rules a probabilistic link must pass, stated in comparison level names.

A score adds evidence up; a guard says what kind of evidence is never enough, or what conflict no
sum of agreements outweighs (a name alone; two different dates of birth). Each guard is a rule in
`config/identity.yaml`:

    require_any: {kind: [level, ...], ...}   the link needs one of these to hold
                 or [{kind: [...], kind: [...]}, ...]: one of the groups, all of a group together
    refuse_when: {kind: [level, ...], ...}   the link is refused when one of these holds ...
    unless:      {kind: [level, ...], ...}   ... and none of these does
    veto_while_m_below: 0.02                 ... and only while the file's own trained m says its
                                             true matches rarely show what the guard refuses:
                                             with refuse_when, the m of those levels and of every
                                             weaker level of the comparison (a file whose matches
                                             often disagree outright on first names loses nothing
                                             by a merely similar one); with require_any, the share
                                             of true matches in which none of the evidence holds
                                             (comparisons independent, as the model takes them)

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
         "house_number", "locality", "country", "gender", "text")


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
        terms = []
        for part in ("require_any", "refuse_when", "unless"):
            value = getattr(guard, part) or {}
            for group in (value if isinstance(value, list) else [value]):
                terms += [(part, kind, levels) for kind, levels in group.items()]
        for part, kind, levels in terms:
            if True:
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


def _term(kind: str, levels: list[str], comparisons: tuple[Comparison, ...]) -> pl.Expr | None:
    exprs = []
    for comp in comparisons:
        if comp.kind == kind or comp.name == kind:
            codes = [comp.codes[lvl] for lvl in levels if lvl in comp.codes]
            if codes:
                exprs.append(pl.col(comp.name).is_in(codes))
    return pl.any_horizontal(exprs) if exprs else None


def _holds(terms, comparisons: tuple[Comparison, ...]) -> pl.Expr | None:
    """Any term of a dict; with a list of dicts, any dict whose terms all hold (a dict naming a
    kind the data lacks cannot hold)."""
    groups = terms if isinstance(terms, list) else [{k: v} for k, v in (terms or {}).items()]
    alternatives = []
    for group in groups:
        parts = [_term(kind, levels, comparisons) for kind, levels in group.items()]
        if parts and all(p is not None for p in parts):
            alternatives.append(pl.all_horizontal(parts))
    return pl.any_horizontal(alternatives) if alternatives else None


def _at_or_below(comp: Comparison, levels: list[str]) -> list[int]:
    """Codes of the listed levels and of every weaker level ("else" included, "null" not)."""
    listed = [comp.codes[lvl] for lvl in levels if lvl in comp.codes and lvl != "null"]
    return [code for code in comp.codes.values() if listed and 0 <= code <= max(listed)]


def _m_share(terms: dict, comparisons: tuple[Comparison, ...], model) -> float:
    """How often the model's true matches agree no better than the refuse_when levels (the
    largest share over the comparisons named)."""
    shares = [0.0]
    for kind, levels in terms.items():
        for comp in comparisons:
            if (comp.kind == kind or comp.name == kind) and comp.name in model.m:
                shares.append(sum(model.m[comp.name].get(code, 0.0) for code in _at_or_below(comp, levels)))
    return max(shares)


def _m_none_holds(terms, comparisons: tuple[Comparison, ...], model) -> float:
    """Share of the model's true matches in which no group of a require_any holds, the
    comparisons taken as independent (as the weights take them) and every field present.

    Exact over the product of each comparison's level classes (levels grouped by which terms
    they satisfy): a few hundred combinations for the default guards."""
    import itertools

    groups = terms if isinstance(terms, list) else [{k: v} for k, v in (terms or {}).items()]
    resolved = []                       # per group: per term, [(comparison name, codes)]
    for group in groups:
        parts = []
        for kind, levels in group.items():
            found = [(c.name, {c.codes[lvl] for lvl in levels if lvl in c.codes})
                     for c in comparisons if (c.kind == kind or c.name == kind) and c.name in model.m]
            if not found:
                break
            parts.append(found)
        else:
            resolved.append(parts)
    names = sorted({name for parts in resolved for term in parts for name, _ in term})
    classes = []
    for name in names:
        by_key: dict[tuple, float] = {}
        for code, m in model.m[name].items():
            if code < 0:
                continue
            key = tuple((g, t) for g, parts in enumerate(resolved) for t, term in enumerate(parts)
                        for cname, codes in term if cname == name and code in codes)
            by_key[key] = by_key.get(key, 0.0) + m
        classes.append(list(by_key.items()))
    none_holds = 0.0
    for combo in itertools.product(*classes):
        p, met = 1.0, set()
        for key, m in combo:
            p *= m
            met.update(key)
        if not any(all((g, t) in met for t in range(len(parts))) for g, parts in enumerate(resolved)):
            none_holds += p
    return none_holds


@dataclass
class CompiledGuard:
    name: str
    refuses: pl.Expr | None      # None: off for this data
    note: str


def compile_guards(guards: dict, comparisons: tuple[Comparison, ...], model=None) -> list[CompiledGuard]:
    out = []
    for name, guard in guards.items():
        if not guard.enabled:
            out.append(CompiledGuard(name, None, "disabled in config"))
            continue
        if guard.require_any:
            ok = _holds(guard.require_any, comparisons)
            if ok is not None and guard.veto_while_m_below is not None and model is not None:
                share = _m_none_holds(guard.require_any, comparisons, model)
                if share >= guard.veto_while_m_below:
                    out.append(CompiledGuard(name, None, f"off: {share:.2%} of this data's matches show none of "
                                                         f"the evidence it asks for (it holds only below "
                                                         f"{guard.veto_while_m_below:.2%})"))
                    continue
            out.append(CompiledGuard(name, ~ok if ok is not None else pl.lit(True),
                                     "active" if ok is not None else "active: the data has none of the "
                                     "evidence it asks for, so it refuses every link"))
            continue
        bad = _holds(guard.refuse_when, comparisons)
        if bad is None:
            out.append(CompiledGuard(name, None, "off: the data lacks the fields it needs"))
            continue
        if guard.veto_while_m_below is not None and model is not None:
            share = _m_share(guard.refuse_when, comparisons, model)
            if share >= guard.veto_while_m_below:
                out.append(CompiledGuard(name, None, f"off: this data's matches show it {share:.1%} of the time "
                                                     f"(veto only below {guard.veto_while_m_below:.1%})"))
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
