"""The compact stored form of a decision's detail, and back (pure: no ORM, no I/O).

``Decision.detail`` is the engine's ``decision_to_dict`` (steps, candidates, reasons, scores,
the segment and the rule). Most of it repeats from decision to decision: the segment and rule
specs are the same for every lead a rule version decides, a pool's members (id, name, weight)
the same for every lead of that pool, and the reasons, step kinds and criteria come from fixed
sets. Stored as is, a decision cost ~3.6 KB on disk, most of it TOASTed JSON.

``encode`` turns an engine-shaped detail into a JSON array (version 1), stored as one JSON
string (a ``jsonb`` array spends 4 bytes and alignment on every item; a string 1 byte a character)::

    [1, lead_id, config_version, specs, high_value, steps, outcome, chosen_rep_id, chosen_step,
     fairness, summary, warnings, account, sticky]

* ``specs``: ``None`` or a *legend code*, an integer naming the JSON text of the pair
  ``[segment, rule]`` in the shared legend (``routing.models.DecisionLegend``; the code is the
  first 63 bits of the text's SHA-256, so a code names one text forever, whichever process or
  database made it).
* ``outcome``, ``chosen_step`` and each step's kind: an index into ``WORDS`` (fixed, append
  only), or the string itself when it is not there, or ``None``.
* ``steps``: ``[kind, pool_id, relaxed, roster, status, scores, chosen_rep_id]`` each (and an
  eighth item, the list of odd scores, when there are any), where ``relaxed`` is one letter per
  criterion (``CRITERIA``), ``roster`` the legend code of the candidates'
  ``[[rep_id, name, weight], ...]`` (``None`` when there are none), ``status`` per candidate
  ``+`` (eligible) or ``-``, one letter per reason (``REASONS``) and a score marker when the
  score is not the usual one (``SCORE_*``), and ``scores`` the float scores as their 8 bytes each
  (little-endian doubles, base64): a double as JSON costs ~20 bytes in ``jsonb``, 10.7 here.
* ``fairness``: one item per pool in the dict's order, the pool key as an int when it is an
  int's canonical text: ``[pool, step, differ]`` when the credits are for that step's eligible
  candidates in order, ``differ`` being ``[position, credit, ...]`` for the credits that are not
  the candidate's score (weighted fair: only the chosen rep's); else ``[pool, reps, credits]``.
* ``warnings``, ``account``, ``sticky`` and the scalars: as they are.

Anything else (a detail of another shape, such as a linked duplicate's, a key out of place, a
reason or value of an unexpected type) is not compacted: ``encode`` returns the dict itself,
which is also how every row written before this format reads. ``decode(encode(d), legend) == d``
for every detail, with the same key order and scalar types (tests/routing/test_detail_codec.py).

Key order. A dict stored in a PostgreSQL ``jsonb`` column reads back with its keys ordered by
length, then bytes (and a float of 1e16 or more as an int); SQLite keeps it as written.
``decode(..., jsonb_order=True)`` gives the detail as ``jsonb`` would have given the plain dict
(``jsonb_like``), so a page or an API answer renders byte for byte as it did before compaction,
on either database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

VERSION: Final = 1

# Append only: a code, once written, keeps its meaning. A value missing here is stored as text.
WORDS: Final[tuple[str, ...]] = (
    "offer", "holding", "primary", "relax", "pool", "backup", "manager", "account_owner", "sticky",
)  # fmt: skip
REASONS: Final[tuple[str, ...]] = (
    "inactive", "absent", "no_licence", "at_open_cap", "at_daily_cap", "at_weekly_cap", "already_declined",
    "expires_off_duty", "outside_working_hours", "public_holiday", "missing_skill", "skill_level_too_low",
    "language", "outside_territory", "tier_too_low",
)  # fmt: skip
CRITERIA: Final[tuple[str, ...]] = ("language", "territory", "skill_level", "skills", "tier", "working_hours")

DETAIL_KEYS: Final = (
    "lead_id", "config_version", "segment", "rule", "high_value", "steps", "outcome", "chosen_rep_id",
    "chosen_step", "fairness_updates", "summary", "warnings", "account", "sticky",
)  # fmt: skip
STEP_KEYS: Final = ("kind", "pool_id", "relaxed", "candidates", "chosen_rep_id")
CANDIDATE_KEYS: Final = ("rep_id", "name", "eligible", "reasons", "weight", "score")

_WORD_CODES: Final = {word: code for code, word in enumerate(WORDS)}
_LETTERS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_REASON_LETTERS: Final = {reason: _LETTERS[i] for i, reason in enumerate(REASONS)}
_CRITERION_LETTERS: Final = {criterion: _LETTERS[i] for i, criterion in enumerate(CRITERIA)}
_LENGTH: Final = 14  # items of a version-1 array
# A candidate's score, after its reasons in the status string: none for the usual case (an
# eligible rep's float score, packed; an ineligible rep's None), else one of these.
SCORE_PACKED: Final = "."  # an ineligible rep's float score, packed
SCORE_NONE: Final = "~"  # an eligible rep without a score
SCORE_OTHER: Final = "!"  # any other score, from the step's list of odd scores
_SCORE_MARKERS: Final = frozenset((SCORE_PACKED, SCORE_NONE, SCORE_OTHER))


class Unfit(ValueError):
    """The detail is not of the shape version 1 compacts; it is stored as it is."""


class DecodeError(ValueError):
    """A stored detail that cannot be read back: an unknown version, or a legend code with no
    text in the legend (``LegendLookup`` must supply every code in ``codes(stored)``)."""


def legend_code(text: str) -> int:
    """The legend code of a legend text: the first 63 bits of its SHA-256 (a positive bigint)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


_TEXT: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def legend_text(value: Any) -> str:
    """The canonical legend text of a plain JSON value (ASCII, no spaces, keys in their order).

    Raises ``TypeError`` for a value JSON cannot hold and ``ValueError`` for NaN or infinity."""
    return _TEXT.encode(value)


def is_compact(stored: Any) -> bool:
    """Whether ``stored`` (the column's value, parsed) is a compact detail of any version: a
    string holding a JSON array. Plain details are dicts."""
    return type(stored) is str and stored[:1] == "["


# The stored string: no spaces, characters as they are (jsonb keeps UTF-8; an escape costs 6),
# no NaN or infinity (jsonb refuses them in a plain dict too).
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# --- encode --------------------------------------------------------------------------------


def encode(detail: Any) -> tuple[Any, dict[int, str]]:
    """The compact form of ``detail`` and the legend entries it names (code -> text).

    Args:
        detail: a decision detail, normally ``engine.decision_to_dict(decision)``.
    Returns:
        ``(stored, entries)``: the version-1 string and the legend texts it refers to by code,
        or ``(detail, {})`` when the detail is not of the engine's shape (stored as it is).
        The caller must make sure every entry is in the legend before the row is committed.
    """
    try:
        array, entries = _encode(detail)
        return _COMPACT.encode(array), entries
    except (Unfit, TypeError, ValueError):
        return detail, {}


def _encode(d: Any) -> tuple[list[Any], dict[int, str]]:
    if type(d) is not dict or tuple(d) != DETAIL_KEYS:
        raise Unfit("not an engine detail")
    entries: dict[int, str] = {}
    steps_in = d["steps"]
    if type(steps_in) is not list:
        raise Unfit("steps")
    steps = [_encode_step(step, entries) for step in steps_in]
    # Values stored as they are (scalars, warnings, account, sticky, odd scores) go through JSON
    # as the plain dict would have; decode(..., jsonb_order=True) gives them jsonb's key order.
    return [
        VERSION, d["lead_id"], d["config_version"], _specs(d["segment"], d["rule"], entries), d["high_value"],
        steps, _word(d["outcome"]), d["chosen_rep_id"], _word(d["chosen_step"]),
        _encode_fairness(d["fairness_updates"], steps_in), d["summary"], d["warnings"], d["account"], d["sticky"],
    ], entries  # fmt: skip


# Legend texts already checked, with the value they parse to (bounded; cleared when full).
_PARSED: dict[str, Any] = {}
_CACHE_LIMIT: Final = 50_000


def _entry(value: Any, entries: dict[int, str]) -> int:
    """The legend code of ``value``, a plain JSON value whose text parses back to an equal value
    (no tuples, no non-string keys, finite numbers); adds the entry to ``entries``."""
    try:
        text = legend_text(value)
    except (TypeError, ValueError):
        raise Unfit("not plain JSON") from None
    parsed = _PARSED.get(text, _PARSED)
    if parsed is _PARSED:
        if len(_PARSED) >= _CACHE_LIMIT:
            _PARSED.clear()
        parsed = _PARSED[text] = json.loads(text)
    # Equal, and of the same types: JSON text keeps true/1/1.0 apart, so only a tuple or a
    # non-string key could come back different, and then it is not equal.
    if parsed != value:
        raise Unfit("not plain JSON")
    code = legend_code(text)
    entries[code] = text
    return code


def _specs(segment: Any, rule: Any, entries: dict[int, str]) -> int | None:
    """One legend code for the pair ``[segment, rule]`` (the pairs a configuration can make are
    few), or ``None`` when both are ``None``."""
    if segment is None and rule is None:
        return None
    if (segment is not None and type(segment) is not dict) or (rule is not None and type(rule) is not dict):
        raise Unfit("segment or rule is not a dict")
    return _entry([segment, rule], entries)


def _word(value: Any) -> int | str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise Unfit("not a word")
    return _WORD_CODES.get(value, value)


def _letters(values: Any, table: Mapping[str, str]) -> str:
    if type(values) is not list:
        raise Unfit("not a list")
    try:
        return "".join([table[value] for value in values])
    except (KeyError, TypeError):
        raise Unfit("a value outside the fixed table") from None


_MEMBER_TYPES: Final = frozenset({str, int, float, bool, type(None)})
# Rosters already coded: (rep_id, name, weight) per candidate -> (code, text). Hashing the tuple
# is cheaper than writing and hashing its JSON; a pool's roster repeats for every lead it gets.
_ROSTER_CODES: dict[tuple[tuple[Any, Any, Any], ...], tuple[int, str]] = {}


def _encode_step(step: Any, entries: dict[int, str]) -> list[Any]:
    if type(step) is not dict or tuple(step) != STEP_KEYS:
        raise Unfit("not an engine step")
    candidates = step["candidates"]
    if type(candidates) is not list:
        raise Unfit("candidates")
    members: list[tuple[Any, Any, Any]] = []
    status: list[str] = []
    packed: list[float] = []
    odd: list[Any] = []
    letters, keys, member_types = _REASON_LETTERS, CANDIDATE_KEYS, _MEMBER_TYPES
    typical = True  # every member (int, str, int): then equal rosters have equal texts
    try:
        for c in candidates:
            if type(c) is not dict or tuple(c) != keys:
                raise Unfit("not an engine candidate")
            rep_id, name, eligible, reasons, weight, score = c.values()
            if (type(eligible) is not bool or type(reasons) is not list or type(rep_id) not in member_types
                    or type(name) not in member_types or type(weight) not in member_types):  # fmt: skip
                raise Unfit("not an engine candidate")
            members.append((rep_id, name, weight))
            typical = typical and type(rep_id) is int and type(name) is str and type(weight) is int
            token = ("+" if eligible else "-") + "".join([letters[r] for r in reasons]) if reasons else (
                "+" if eligible else "-")  # fmt: skip
            if _packable(score):
                packed.append(score)
                if not eligible:
                    token += SCORE_PACKED
            elif score is None:
                if eligible:
                    token += SCORE_NONE
            else:
                token += SCORE_OTHER
                odd.append(score)
            status.append(token)
    except (KeyError, TypeError):
        raise Unfit("a reason outside the fixed table") from None
    roster = None
    if members:
        # Only typical rosters are looked up by tuple: 1 == 1.0 == True would mix others up.
        key = tuple(members) if typical else None
        known = _ROSTER_CODES.get(key) if key is not None else None
        if known is None:
            entry: dict[int, str] = {}
            code = _entry([list(m) for m in members], entry)
            known = (code, entry[code])
            if key is not None:
                if len(_ROSTER_CODES) >= _CACHE_LIMIT:
                    _ROSTER_CODES.clear()
                _ROSTER_CODES[key] = known
        roster = known[0]
        entries[roster] = known[1]
    out = [
        _word(step["kind"]), step["pool_id"], _letters(step["relaxed"], _CRITERION_LETTERS), roster,
        "".join(status), _pack(packed), step["chosen_rep_id"],
    ]  # fmt: skip
    if odd:
        out.append(odd)
    return out


def _packable(score: Any) -> bool:
    """A float stored as its 8 bytes: finite, not -0.0 and below 1e16 in size, so that jsonb
    would have given the same float back (it reads 1e16 as an int and -0.0 as 0.0; those, and
    any other value, are stored as JSON)."""
    return type(score) is float and -1e16 < score < 1e16 and (score != 0.0 or math.copysign(1.0, score) > 0)


def _pack(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode("ascii") if values else ""


def _unpack(text: str) -> tuple[float, ...]:
    raw = base64.b64decode(text)
    return struct.unpack(f"<{len(raw) // 8}d", raw)


def _int_key(key: str) -> int | str:
    """A dict key as an int when it is an int's canonical text ("106" -> 106; "007" stays)."""
    if key.isdigit() and key.isascii():
        number = int(key)
        if str(number) == key:
            return number
    return key


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type (and for floats, the same sign of zero)."""
    return type(a) is type(b) and a == b and (type(a) is not float or a != 0.0 or str(a) == str(b))


def _eligible(step: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in step["candidates"] if c["eligible"]]


def _encode_fairness(updates: Any, steps: list[Any]) -> list[Any]:
    if type(updates) is not dict:
        raise Unfit("fairness_updates")
    out: list[Any] = []
    for pool_key, credits in updates.items():
        if type(pool_key) is not str or type(credits) is not dict:
            raise Unfit("fairness_updates")
        keys = list(credits)
        for key in keys:
            if type(key) is not str:
                raise Unfit("fairness_updates")
        pool = _int_key(pool_key)
        index = next(
            (i for i, step in enumerate(steps)
             if _same(step["pool_id"], pool) and [str(c["rep_id"]) if type(c["rep_id"]) is int else None
                                                  for c in _eligible(step)] == keys),
            None,
        )  # fmt: skip
        if index is None:
            out.append([pool, [_int_key(k) for k in keys], list(credits.values())])
            continue
        # The step's eligible reps, in order; only the credits that differ from the score.
        differ: list[Any] = []
        for position, (c, value) in enumerate(zip(_eligible(steps[index]), credits.values(), strict=True)):
            if not _same(value, c["score"]):
                differ += [position, value]
        out.append([pool, index, differ])
    return out


# --- decode --------------------------------------------------------------------------------

LegendLookup = Callable[[Iterable[int]], Mapping[int, str]]


def codes(stored: Any) -> set[int]:
    """The legend codes a stored detail names (none for a plain dict)."""
    return _codes(_array(stored)) if is_compact(stored) else set()


def _array(stored: str) -> list[Any]:
    array = json.loads(stored)
    if type(array) is not list or not array or array[0] != VERSION or len(array) != _LENGTH:
        raise DecodeError(f"unknown decision detail version {array[0] if array else None!r}")
    return array


def _codes(array: list[Any]) -> set[int]:
    found = {array[3]} if type(array[3]) is int else set()
    found.update(step[3] for step in array[5] if type(step[3]) is int)
    return found


def decode(stored: Any, legend: LegendLookup | Mapping[int, str], *, jsonb_order: bool = False) -> Any:
    """The detail ``encode`` was given, from its stored form; a plain dict comes back as it is.

    Args:
        stored: what the ``detail`` column holds (already parsed from JSON).
        legend: the legend texts by code, or a function returning them for the codes asked
            (it may return more); every code of ``codes(stored)`` must be there.
        jsonb_order: give the detail as PostgreSQL would have given the plain dict from a
            ``jsonb`` column: every dict's keys by length, then bytes, and numbers as ``jsonb``
            reads them back (``jsonb_like``).
    Raises:
        DecodeError: an unknown version or a code missing from the legend.
    """
    if not is_compact(stored):
        return stored
    array = _array(stored)
    needed = _codes(array)
    texts = legend if isinstance(legend, Mapping) else legend(needed)
    missing = needed - texts.keys()
    if missing:
        raise DecodeError(f"decision detail legend codes missing: {sorted(missing)}")
    (_, lead_id, config_version, specs, high_value, steps_in, outcome, chosen_rep_id, chosen_step,
     fairness_in, summary, warnings, account, sticky) = array  # fmt: skip
    steps = [_decode_step(step, texts, jsonb_order) for step in steps_in]
    segment, rule = _spec(specs, texts, jsonb_order)
    fairness = _decode_fairness(fairness_in, steps)
    if jsonb_order:
        lead_id, config_version, high_value, chosen_rep_id, summary, warnings, account, sticky, fairness = (
            jsonb_like(v) for v in (lead_id, config_version, high_value, chosen_rep_id, summary, warnings, account,
                                    sticky, fairness))  # fmt: skip
    values = (
        lead_id, config_version, segment, rule, high_value, steps, _unword(outcome), chosen_rep_id,
        _unword(chosen_step), fairness, summary, warnings, account, sticky,
    )  # fmt: skip
    if jsonb_order:
        return {key: values[i] for key, i in _DETAIL_JSONB}
    return dict(zip(DETAIL_KEYS, values, strict=True))


def _jsonb_positions(keys: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    order = sorted(range(len(keys)), key=lambda i: (len(keys[i].encode()), keys[i].encode()))
    return tuple((keys[i], i) for i in order)


_DETAIL_JSONB: Final = _jsonb_positions(DETAIL_KEYS)
_STEP_JSONB: Final = _jsonb_positions(STEP_KEYS)
_CANDIDATE_JSONB: Final = _jsonb_positions(CANDIDATE_KEYS)


def jsonb_like(value: Any) -> Any:
    """``value`` as a PostgreSQL ``jsonb`` column gives it back: every dict's keys ordered by
    length, then bytes; a float of 1e16 or more in size as an int (``numeric`` prints it without
    a decimal point) and -0.0 as 0.0."""
    kind = type(value)
    if kind is dict:
        return {k: jsonb_like(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k.encode()))}
    if kind is list:
        return [jsonb_like(item) for item in value]
    if kind is float:
        if value == 0.0:
            return 0.0
        if not -1e16 < value < 1e16 and math.isfinite(value):
            return int(value)
    return value


def _unword(value: Any) -> Any:
    return WORDS[value] if type(value) is int else value


# Parsed legend texts, by (code, jsonb order): a text for specs (parsed afresh each time, so a
# caller may change what it gets), a tuple of tuples for rosters. Keyed by code but checked
# against the text, so a legend from another database can never be misread.
_SPECS: dict[tuple[int, bool], tuple[str, str]] = {}
_ROSTERS: dict[int, tuple[str, tuple[tuple[Any, Any, Any], ...]]] = {}


def _spec(code: Any, texts: Mapping[int, str], jsonb_order: bool) -> tuple[Any, Any]:
    """The (segment, rule) pair a spec code names; fresh objects each call."""
    if code is None:
        return None, None
    text = texts[code]
    cached = _SPECS.get((code, jsonb_order))
    if cached is None or cached[0] != text:
        rendered = json.dumps(jsonb_like(json.loads(text))) if jsonb_order else text
        if len(_SPECS) >= _CACHE_LIMIT:
            _SPECS.clear()
        cached = _SPECS[(code, jsonb_order)] = (text, rendered)
    segment, rule = json.loads(cached[1])
    return segment, rule


def _roster(code: Any, texts: Mapping[int, str]) -> tuple[tuple[Any, Any, Any], ...]:
    if code is None:
        return ()
    text = texts[code]
    cached = _ROSTERS.get(code)
    if cached is None or cached[0] != text:
        if len(_ROSTERS) >= _CACHE_LIMIT:
            _ROSTERS.clear()
        cached = _ROSTERS[code] = (text, tuple(tuple(member) for member in json.loads(text)))  # type: ignore[misc]
    return cached[1]


def _roster_jsonb(roster: tuple[tuple[Any, Any, Any], ...]) -> tuple[tuple[Any, Any, Any], ...]:
    if all(type(v) is not float for member in roster for v in member):
        return roster
    return tuple(tuple(jsonb_like(v) for v in member) for member in roster)  # type: ignore[misc]


def _candidates_state(status: str, packed: tuple[float, ...], odd: list[Any]) -> list[tuple[bool, list[str], Any]]:
    """(eligible, reasons, score) per candidate, from a step's status string and its scores."""
    tokens: list[tuple[bool, list[str], list[str]]] = []  # eligible, reasons, score marker
    for ch in status:
        if ch == "+" or ch == "-":
            tokens.append((ch == "+", [], []))
        elif ch in _SCORE_MARKERS:
            tokens[-1][2].append(ch)
        else:
            tokens[-1][1].append(REASONS[_LETTERS.index(ch)])
    scores, others = iter(packed), iter(odd)
    rows: list[tuple[bool, list[str], Any]] = []
    for eligible, reasons, marker in tokens:
        if marker == [SCORE_OTHER]:
            score = next(others)
        elif marker == [SCORE_PACKED] or (not marker and eligible):
            score = next(scores)
        else:
            score = None
        rows.append((eligible, reasons, score))
    return rows


def _decode_step(step: list[Any], texts: Mapping[int, str], jsonb_order: bool) -> dict[str, Any]:
    kind, pool_id, relaxed, roster_code, status, packed, chosen = step[:7]
    roster = _roster(roster_code, texts)
    odd = step[7] if len(step) > 7 else []
    if jsonb_order:
        roster, odd = _roster_jsonb(roster), jsonb_like(odd)
    states = _candidates_state(status, _unpack(packed) if packed else (), odd)
    if len(states) != len(roster):
        raise DecodeError("a step's roster and status differ in length")
    candidates: list[dict[str, Any]] = []
    for (rep_id, name, weight), (eligible, reasons, score) in zip(roster, states):
        if jsonb_order:  # name, score, rep_id, weight, reasons, eligible
            candidates.append({"name": name, "score": score, "rep_id": rep_id, "weight": weight, "reasons": reasons,
                               "eligible": eligible})  # fmt: skip
        else:
            candidates.append({"rep_id": rep_id, "name": name, "eligible": eligible, "reasons": reasons,
                               "weight": weight, "score": score})  # fmt: skip
    values = (_unword(kind), pool_id, [CRITERIA[_LETTERS.index(ch)] for ch in relaxed], candidates, chosen)
    if jsonb_order:
        return {key: values[i] for key, i in _STEP_JSONB}
    return dict(zip(STEP_KEYS, values, strict=True))


def _decode_fairness(fairness: list[Any], steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pool, second, values in fairness:
        if type(second) is not int:  # the rep keys, then the credits
            credits = dict(zip([str(k) for k in second], values, strict=True))
        else:  # the step's eligible reps; their scores but where listed (position, credit)
            eligible = _eligible(steps[second])
            credits = {str(c["rep_id"]): c["score"] for c in eligible}
            keys = list(credits)
            for position, value in zip(values[::2], values[1::2], strict=True):
                credits[keys[position]] = value
        out[str(pool)] = credits
    return out
