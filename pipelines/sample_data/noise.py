"""The ways real people and real forms garble identifiers, one small function each.

Each function takes the clean value and a `random.Random`, and returns the value as one source
record would carry it. Rates are chosen so that a careful resolver can still link almost every
record (a typo never hits every identifier of a record at once).
"""
from __future__ import annotations

import random
from functools import lru_cache

from unidecode import unidecode

PLACEHOLDER_EMAILS = ("test@test.com", "null", "anonymous", "n/a")
PLACEHOLDER_PHONES = ("0000000000", "null", "n/a")

_KEYBOARD_NEIGHBOURS = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}


@lru_cache(maxsize=200_000)
def ascii_fold(text: str) -> str:
    """José -> Jose; cached because the same names recur millions of times."""
    return unidecode(text)


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip: swap two letters, drop one, double one, or hit a neighbour key."""
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.random()
    if kind < 0.3:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind < 0.55:
        return text[:i] + text[i + 1:]
    if kind < 0.75:
        return text[:i] + text[i] + text[i:]
    near = _KEYBOARD_NEIGHBOURS.get(text[i].lower())
    if not near:
        return text[:i] + text[i + 1:]
    return text[:i] + rng.choice(near) + text[i + 1:]


def case_and_space(text: str, rng: random.Random, rate: float = 0.08) -> str:
    """UPPER, lower, or stray whitespace, as typed into forms and POS terminals."""
    if not text or rng.random() >= rate:
        return text
    kind = rng.random()
    if kind < 0.35:
        return text.upper()
    if kind < 0.7:
        return text.lower()
    if kind < 0.85:
        return f" {text} " if rng.random() < 0.5 else f"{text}  "
    return text.replace(" ", "  ", 1) if " " in text else f"{text} "


def name_variant(first: str, last: str, rng: random.Random, typo_rate: float = 0.02,
                 fold_rate: float = 0.3) -> tuple[str, str]:
    """A person's name as one record carries it.

    Spanish double surnames are often cut to the first one; accents are dropped by many forms;
    a small share of records has a typo in one of the two parts (never both).
    """
    if " " in last and rng.random() < 0.35:
        last = last.split(" ", 1)[0]
    if rng.random() < fold_rate:
        first, last = ascii_fold(first), ascii_fold(last)
    if rng.random() < typo_rate:
        if last and rng.random() < 0.5:
            last = typo(last, rng)
        else:
            first = typo(first, rng)
    return case_and_space(first, rng), case_and_space(last, rng)


def email_variant(email: str, rng: random.Random, typo_rate: float = 0.005) -> str:
    """An address as typed: case, whitespace, Gmail dots and +tags, googlemail.com, rare typos.

    All variants but the typo still reach the same mailbox.
    """
    local, _, domain = email.partition("@")
    if domain == "gmail.com":
        roll = rng.random()
        if roll < 0.06 and "." in local:
            local = local.replace(".", "")
        elif roll < 0.10 and len(local) > 4:
            cut = rng.randrange(2, len(local) - 1)
            if local[cut - 1] != "." and local[cut] != ".":
                local = local[:cut] + "." + local[cut:]
        if rng.random() < 0.03:
            domain = "googlemail.com"
    if domain in ("gmail.com", "googlemail.com", "outlook.com", "outlook.es") and rng.random() < 0.04:
        local = f"{local}+{rng.choice(('shop', 'news', 'promo', 'cdp'))}"
    if rng.random() < typo_rate:
        local = typo(local, rng)
    roll = rng.random()
    if roll < 0.06:
        local = local[:1].upper() + local[1:]
    elif roll < 0.08:
        local, domain = local.upper(), domain.upper()
    elif roll < 0.10:
        domain = domain[:1].upper() + domain[1:]
    out = f"{local}@{domain}"
    if rng.random() < 0.02:
        out = f" {out}" if rng.random() < 0.5 else f"{out} "
    return out


def phone_variant(locale: str, national: str, rng: random.Random) -> str:
    """A mobile number in one of the national or international spellings used in its country.

    `national` is the significant number without trunk prefix (ES 9 digits, MX 10, ID 11 starting
    with 8, US 10).
    """
    n = national
    roll = rng.random()
    if locale == "es_ES":
        forms = (f"+34 {n[:3]} {n[3:6]} {n[6:]}", n, f"+34{n}", f"0034 {n}", f"{n[:3]} {n[3:5]} {n[5:7]} {n[7:]}")
    elif locale == "es_MX":
        forms = (f"+52 {n[:2]} {n[2:6]} {n[6:]}", n, f"+52{n}", f"({n[:2]}) {n[2:6]}-{n[6:]}", f"{n[:2]} {n[2:6]} {n[6:]}")
    elif locale == "id_ID":
        forms = (f"0{n[:3]}-{n[3:7]}-{n[7:]}", f"+62 {n[:3]}-{n[3:7]}-{n[7:]}", f"0{n}", f"+62{n}", f"62{n}")
    else:
        forms = (f"({n[:3]}) {n[3:6]}-{n[6:]}", f"{n[:3]}-{n[3:6]}-{n[6:]}", f"+1 {n[:3]} {n[3:6]} {n[6:]}", n, f"+1{n}")
    index = min(int(roll * len(forms)), len(forms) - 1)
    return forms[index]
