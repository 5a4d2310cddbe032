"""One schema for the routing configuration: rules, conditions, requirements, fallbacks, segments, pools.

Every reader and writer derives from these pydantic models: the config import and export
(``routing.config_io``), the console forms (``routing.console.forms``), rule and version restore,
the labels (``routing.labels``) and the fetch into frozen dataclasses (``routing.snapshots``).
Adding a requirement means adding a field to :class:`Requirements` and its check in
``routing.engine.eligibility`` (plus the ``types.Requirements`` field the check reads); forms,
labels, import, export and documentation follow from the field's metadata.

Two spellings of the same objects:

- **file** form (``RuleFile``, ``SegmentFile``, ``PoolFile``): references by natural key (pool
  name, rep username, skill ``kind:code``), as in docs/config-format.md;
- **stored** form (``RuleStored``, ``SegmentStored``): references by database id, as the tables
  and the published rule sets hold them.

The checks that span several objects live here too, once, for both paths: :func:`rule_problems`
(holding ends the fallback chain, a relax step needs a relaxation order), :func:`rule_reference_problems`,
:func:`manager_cycle` and :func:`rep_login_problem`.

Pure: no ORM, no settings, no clock. Errors are ``(path, message)`` pairs where ``path`` is a JSON
path in the format's own terms (``rules[2].fallback[1].pool``).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from routing.engine import types
from routing.engine.conditions import PRESENCE_OPS, validate_condition
from routing.engine.sla import DeliveryMode, SlaClock
from routing.engine.types import Criterion, Op, StepKind, Strategy

Problem = tuple[str, str]  # (JSON path, message)

MAX_DEPTH: Final = 32  # nesting of a JSON value (attributes, condition values) that we store
MAX_INT: Final = 2_147_483_647  # PostgreSQL integer
MAX_SMALLINT: Final = 32_767
FALLBACK_KINDS: Final = (StepKind.ACCOUNT_OWNER, StepKind.RELAX, StepKind.POOL, StepKind.BACKUP, StepKind.MANAGER,
                         StepKind.HOLDING)  # fmt: skip
SLUG_RE: Final = r"^[-a-zA-Z0-9_]+$"

HOLDING_NOT_LAST: Final = "Holding ends the chain: put it last."
OWNER_NOT_FIRST: Final = "The account owner is tried before the pool: put that step first."
RELAX_WITHOUT_ORDER: Final = "A relax step needs a relaxation order."
VALUE_NEEDED: Final = "Enter a value, or use 'is empty' / 'is set'."


class SchemaError(Exception):
    """Input that does not fit the schema; ``problems`` lists every ``(path, message)``."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems[:20]))

    @property
    def errors(self) -> list[str]:
        return [f"{path}: {message}" for path, message in self.problems]


# --- JSON the database can store ---------------------------------------------------------------


_NAME: Final = r"[A-Za-z_][A-Za-z0-9_]*"


def join_path(base: str, *parts: str | int) -> str:
    """``join_path("rules", 2, "pool")`` -> ``"rules[2].pool"``; ``"$"`` is the document itself.

    A key that is not a plain name (empty, with dots, spaces or other scripts) is written
    ``["key"]`` in JSON's escaping, so every path reads back unambiguously.
    """
    path = "" if base == "$" else base
    for part in parts:
        if isinstance(part, int):
            path = f"{path or '$'}[{part}]"
        elif re.fullmatch(_NAME, part):
            path = f"{path}.{part}" if path else part
        else:
            path = f"{path or '$'}[{json.dumps(part)}]"
    return path or "$"


def text_problem(text: str) -> str | None:
    """Why PostgreSQL cannot store ``text`` (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character, which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def storable_problems(value: Any, path: str = "$", *, max_depth: int = MAX_DEPTH) -> list[Problem]:
    """Every place in a decoded JSON value that PostgreSQL's jsonb/text cannot hold.

    Refused: NaN and infinite numbers (JSON has none; ``1e999`` decodes to infinity), text or keys
    with NUL or lone surrogates, nesting deeper than ``max_depth``, and anything that is not a JSON
    type (dict keys must be text). Iterative, so a hostile nesting cannot exhaust the stack.
    """
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if (problem := text_problem(item)) is not None:
                problems.append((where, problem))
        elif isinstance(item, bool) or item is None or isinstance(item, int):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                problems.append((where, f"{item!r} is not a number JSON can carry (NaN and infinity are refused)"))
        elif isinstance(item, Decimal):
            if not item.is_finite():
                problems.append((where, f"{item} is not a finite number"))
        elif isinstance(item, (list, tuple)):
            if depth >= max_depth:
                problems.append((where, f"nested more than {max_depth} levels"))
                continue
            stack.extend((v, join_path(where, i), depth + 1) for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, Mapping):
            if depth >= max_depth:
                problems.append((where, f"nested more than {max_depth} levels"))
                continue
            for key, v in reversed(list(item.items())):
                if not isinstance(key, str):
                    problems.append((where, f"key {key!r} is not text"))
                    continue
                if (problem := text_problem(key)) is not None:
                    problems.append((where, f"a key {problem}"))
                    continue
                stack.append((v, join_path(where, key), depth + 1))
        else:
            problems.append((where, f"{type(item).__name__} is not a JSON value"))
    return problems


def load_json(text: str | bytes) -> Any:
    """Decode a JSON document; ``ValueError`` with a readable message when it is not JSON.

    The decoded value may still hold NaN, infinity or lone surrogates: :func:`storable_problems`
    names where (with the path, which a parser error cannot).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ValueError("Not valid JSON: nested too deeply.") from None
    except ValueError as exc:  # an integer literal of more than 4,300 digits
        raise ValueError(f"Not valid JSON: {exc}") from None


# --- field types --------------------------------------------------------------------------------


def _none_to_empty(value: Any) -> Any:
    return "" if value is None else value


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


Text = Annotated[str, BeforeValidator(_none_to_empty)]  # null and "" both mean "blank"
OptionalRef = Annotated[str | None, BeforeValidator(_empty_to_none)]


class _Model(BaseModel):
    model_config = ConfigDict(
        strict=True, extra="forbid", allow_inf_nan=False, str_strip_whitespace=True, frozen=True,
        use_enum_values=False, validate_default=False,
    )  # fmt: skip


def _choice(default: Any, description: str) -> Any:
    """A field whose value is one of an enum's codes, given as text (strict mode would want the enum)."""
    return Field(default, strict=False, description=description)


# --- conditions ---------------------------------------------------------------------------------


# Lead fields the normaliser stores as ISO codes, each with the function that turns a spelling the
# normaliser accepts ("United States", "USA", "English") into that code: a condition is stored with
# the code, or it would never match a normalised lead; unrecognised values are kept as written.
# The engine imports no data library: routing.apps installs routing.reference's functions
# (pycountry) when Django starts; until then values are kept as written.
CODED_FIELDS: dict[str, Callable[[str], str | None]] = {}


def _as_leads_store(data: Mapping[str, Any]) -> Any:
    coder = CODED_FIELDS.get(data.get("field"))  # type: ignore[arg-type]
    op = data.get("op")
    if coder is None or (op.value if isinstance(op, Op) else op) not in (Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN):
        return data
    value = data.get("value")
    if isinstance(value, str):
        return {**data, "value": coder(value) or value}
    if isinstance(value, list):
        return {**data, "value": [coder(v) or v if isinstance(v, str) else v for v in value]}
    return data


class Condition(_Model):
    """One test on a lead field; a rule or segment matches when all of its conditions hold."""

    field: str = Field(description="a lead field (`country`, `state`, `value`, `intent`, ...) or `attributes.<key>`")
    op: Op = _choice(..., "`" + "`, `".join(o.value for o in Op) + "`")
    value: Any = Field(None, description="a list for `in`/`not_in`, `[low, high]` for `between`, none for `is_empty`/`is_set`")

    @model_validator(mode="before")
    @classmethod
    def _semantics(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping) or (info.context or {}).get("stored"):
            return data  # a published rule set is read as it was published (see read_stored)
        value = data.get("value")
        problems = validate_condition(data.get("field"), data.get("op"), value)
        if not problems:
            try:
                presence = Op(data.get("op")) in PRESENCE_OPS
            except ValueError:
                presence = False
            if not presence and (value is None or value == "" or value == []):
                problems = [VALUE_NEEDED]
        if problems:
            raise PydanticCustomError("condition", " ".join(problems))
        for where, problem in storable_problems(value, "value"):
            raise PydanticCustomError("storable", "{where}: {problem}", {"where": where, "problem": problem})
        return _as_leads_store(data)

    def dump(self) -> dict[str, Any]:
        item: dict[str, Any] = {"field": self.field, "op": self.op.value}
        if self.op not in PRESENCE_OPS:
            item["value"] = self.value
        return item

    def to_spec(self) -> types.Condition:
        return types.Condition(field=self.field, op=self.op, value=self.value)


# --- requirements -------------------------------------------------------------------------------


class SkillRequirement(_Model):
    skill: str = Field(min_length=1, max_length=100, description="skill key `kind:code`, e.g. `product:auto`")
    min_level: int = Field(1, ge=1, le=5, description="lowest level that qualifies, 1 to 5")


class Requirements(_Model):
    """What a rep needs to receive a rule's leads. Each flag's ``title`` is the editor's checkbox
    label and ``words`` its phrase in a rule summary (``routing.labels.requirements_text``)."""

    skills: list[SkillRequirement] = Field(default_factory=list, description="required skills, each with a minimum level")
    licence: bool = Field(False, title="Valid licence for the lead's jurisdiction", description="a valid licence for the lead's jurisdiction and product line",
                          json_schema_extra={"words": "licence required"})  # fmt: skip
    language: bool = Field(False, title="Rep speaks the lead's language", description="the rep has the skill `language:<lead language>`",
                           json_schema_extra={"words": "language"})  # fmt: skip
    territory: bool = Field(False, title="Rep covers the lead's territory", description="the rep covers the lead's country, region and postal code",
                            json_schema_extra={"words": "territory"})  # fmt: skip
    min_tier: int | None = Field(None, ge=1, le=4, title="Minimum seniority tier", description="seniority floor for every lead of the rule, 1 to 4; null = none",
                                 json_schema_extra={"words": "tier ≥ {label}"})  # fmt: skip
    working_hours: bool = Field(False, title="Only reps inside working hours", description="only reps inside their working hours",
                                json_schema_extra={"words": "within working hours"})  # fmt: skip

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_spec(self) -> types.Requirements:
        values = {name: getattr(self, name) for name in type(self).model_fields if name != "skills"}
        skills = tuple(types.SkillRequirement(skill=s.skill, min_level=s.min_level) for s in self.skills)
        return types.Requirements(skills=skills, **values)


def requirement_flags() -> list[tuple[str, str]]:
    """``[(name, checkbox label)]`` of every yes/no requirement, in the schema's order."""
    return [(name, info.title or name) for name, info in Requirements.model_fields.items() if info.annotation is bool]


def requirement_words() -> dict[str, str]:
    """Each requirement's phrase in a rule summary (``{label}`` stands for a tier's name)."""
    return {name: (info.json_schema_extra or {}).get("words", name)  # type: ignore[union-attr]
            for name, info in Requirements.model_fields.items() if name != "skills"}  # fmt: skip


# --- fallback steps -----------------------------------------------------------------------------


_FALLBACK_VALUES: Final = frozenset(k.value for k in FALLBACK_KINDS)


def _fallback_kind(value: Any) -> Any:
    if not isinstance(value, str) or value not in _FALLBACK_VALUES:
        raise PydanticCustomError(
            "fallback_kind", "unknown fallback {kind}; use one of {kinds}",
            {"kind": _shown(value), "kinds": ", ".join(k.value for k in FALLBACK_KINDS)},
        )  # fmt: skip
    return StepKind(value)


FallbackKind = Annotated[StepKind, BeforeValidator(_fallback_kind)]


class FallbackFile(_Model):
    """A fallback step in a file: ``pool`` names the pool of a pool step, ``rep`` the backup rep."""

    kind: FallbackKind = Field(description="`account_owner` (first only: the matched account's owner, before the pool), "
                                           "`relax`, `pool` (+ `pool`), `backup` (+ `rep`), `manager`, `holding`")
    pool: OptionalRef = Field(None, description="the pool of a `pool` step, by name")
    rep: OptionalRef = Field(None, description="the backup rep of a `backup` step, by username")
    respect_caps: bool = Field(True, description="`account_owner` only: the owner's open, daily and weekly caps apply "
                                                 "(false: only active, absence, licence and an earlier decline stop them)")

    @model_validator(mode="after")
    def _target(self) -> FallbackFile:
        if self.kind is StepKind.POOL and not self.pool:
            raise PydanticCustomError("missing_target", "a pool step names its pool")
        if self.kind is StepKind.BACKUP and not self.rep:
            raise PydanticCustomError("missing_target", "a backup step names its rep")
        return self

    @property
    def target(self) -> str | None:
        return self.pool if self.kind is StepKind.POOL else self.rep if self.kind is StepKind.BACKUP else None

    def dump(self) -> dict[str, Any]:
        if self.kind is StepKind.POOL:
            return {"kind": self.kind.value, "pool": self.pool}
        if self.kind is StepKind.BACKUP:
            return {"kind": self.kind.value, "rep": self.rep}
        if self.kind is StepKind.ACCOUNT_OWNER:
            return {"kind": self.kind.value, "respect_caps": self.respect_caps}
        return {"kind": self.kind.value}


class FallbackStored(_Model):
    """A fallback step as stored: ``target_id`` is the pool id (pool step) or rep id (backup step)."""

    kind: FallbackKind
    target_id: int | None = Field(None, ge=1)
    respect_caps: bool = True

    @model_validator(mode="after")
    def _target(self) -> FallbackStored:
        if self.kind is StepKind.POOL and self.target_id is None:
            raise PydanticCustomError("missing_target", "Choose the pool to fall back to.")
        if self.kind is StepKind.BACKUP and self.target_id is None:
            raise PydanticCustomError("missing_target", "Choose the backup rep.")
        return self

    @property
    def target(self) -> int | None:
        return self.target_id if self.kind in (StepKind.POOL, StepKind.BACKUP) else None

    def dump(self) -> dict[str, Any]:
        if self.kind in (StepKind.POOL, StepKind.BACKUP):
            return {"kind": self.kind.value, "target_id": self.target_id}
        if self.kind is StepKind.ACCOUNT_OWNER:
            return {"kind": self.kind.value, "respect_caps": self.respect_caps}
        return {"kind": self.kind.value}

    def to_spec(self) -> types.FallbackStep:
        return types.FallbackStep(kind=self.kind, target_id=self.target, respect_caps=self.respect_caps)


# --- rules --------------------------------------------------------------------------------------


def _threshold(value: Any) -> Any:
    """An amount written as text or a number (``"50000"``, ``50000``, ``5e4``) -> Decimal."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise PydanticCustomError("amount", "expected an amount such as \"50000\", got {value}", {"value": _shown(value)})
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        raise PydanticCustomError("amount", "expected an amount such as \"50000\", got {value}", {"value": _shown(value)}) from None
    if not number.is_finite() or number < 0:
        raise PydanticCustomError("amount", "expected a non-negative amount, got {value}", {"value": _shown(value)})
    if number >= Decimal("1e12") or number != number.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        raise PydanticCustomError("amount", "at most 12 digits before the point and 2 after, got {value}", {"value": str(value)})
    return number


Amount = Annotated[Decimal | None, BeforeValidator(_threshold)]


class _RuleBody(_Model):
    name: str = Field(min_length=1, max_length=120, description="unique among the rules of a file")
    priority: int = Field(100, ge=0, le=MAX_INT, description="lower is evaluated first; the first matching rule routes the lead")
    enabled: bool = Field(True, description="a disabled rule is skipped")
    conditions: list[Condition] = Field(default_factory=list, description="all must hold; none = every lead (a catch-all)")
    strategy: Strategy = _choice(Strategy.WEIGHTED_FAIR, "`" + "`, `".join(s.value for s in Strategy) + "`")
    requirements: Requirements = Field(default_factory=Requirements, description="what a rep needs (see `requirements.*`)")
    value_threshold: Amount = Field(None, description="an amount (text, e.g. `\"50000\"`): a lead worth at least this is high value; null = none")
    high_value_min_tier: int | None = Field(None, ge=1, le=4, description="tier floor for high-value leads, 1 to 4; null = none")
    relaxation: list[Annotated[Criterion, Field(strict=False)]] = Field(
        default_factory=list,
        description="order in which relax steps drop soft criteria: " + ", ".join(f"`{c.value}`" for c in Criterion),
    )  # fmt: skip
    reroute_on_escalation: bool = Field(True, description="on decline or expiry, try the rule's pool again before the fallback chain")

    @field_serializer("value_threshold")
    def _amount_text(self, value: Decimal | None) -> str | None:
        return None if value is None else format(value.normalize(), "f")

    def _body(self) -> dict[str, Any]:
        return {
            "name": self.name, "priority": self.priority, "enabled": self.enabled,
            "conditions": [c.dump() for c in self.conditions], "strategy": self.strategy.value,
            "requirements": self.requirements.dump(), "value_threshold": self._amount_text(self.value_threshold),
            "high_value_min_tier": self.high_value_min_tier, "relaxation": [c.value for c in self.relaxation],
            "reroute_on_escalation": self.reroute_on_escalation,
        }  # fmt: skip


class RuleFile(_RuleBody):
    """A rule in a configuration file (references by name)."""

    pool: str = Field(min_length=1, max_length=100, description="the rule's pool, by name")
    fallback: list[FallbackFile] = Field(default_factory=list, description="steps tried in order when the pool has nobody; empty = straight to holding")

    def dump(self) -> dict[str, Any]:
        """The canonical export form (the order of keys of docs/config-format.md)."""
        body = self._body()
        return {
            **{k: body[k] for k in ("name", "priority", "enabled", "conditions")}, "pool": self.pool,
            "strategy": body["strategy"], "requirements": body["requirements"],
            "value_threshold": body["value_threshold"], "high_value_min_tier": body["high_value_min_tier"],
            "fallback": [s.dump() for s in self.fallback], "relaxation": body["relaxation"],
            "reroute_on_escalation": body["reroute_on_escalation"],
        }  # fmt: skip


class RuleStored(_RuleBody):
    """A rule as the tables and published rule sets hold it (references by id)."""

    id: int | None = None
    history_id: int | None = None
    pool_id: int = Field(ge=1)
    fallback: list[FallbackStored] = Field(default_factory=list)

    def values(self) -> dict[str, Any]:
        """The model fields of ``routing.models.Rule`` (JSON columns as stored)."""
        body = self._body()
        return {**body, "pool_id": self.pool_id, "value_threshold": self.value_threshold,
                "fallback": [s.dump() for s in self.fallback]}  # fmt: skip

    def to_spec(self) -> types.RuleSpec:
        return types.RuleSpec(
            id=self.id or 0, history_id=self.history_id, name=self.name, priority=self.priority,
            enabled=self.enabled, conditions=tuple(c.to_spec() for c in self.conditions), pool_id=self.pool_id,
            strategy=self.strategy, requirements=self.requirements.to_spec(), value_threshold=self.value_threshold,
            high_value_min_tier=self.high_value_min_tier,
            fallback=tuple(s.to_spec() for s in self.fallback) or (types.FallbackStep(StepKind.HOLDING),),
            relaxation=tuple(self.relaxation), reroute_on_escalation=self.reroute_on_escalation,
        )  # fmt: skip


def rule_problems(rule: Mapping[str, Any], path: str = "$") -> list[Problem]:
    """Checks across a rule's fields, the same for a file, the editor and a restore.

    A skill or criterion listed twice is a typo; holding parks the lead, so nothing after it
    would run; a relax step with no relaxation order would relax nothing. Reads the raw mapping
    (file or stored form), so these show up together with any type error of the same rule.
    """
    def items(value: Any) -> list[Any]:
        return value if isinstance(value, list) else []

    problems: list[Problem] = []
    requirements = rule.get("requirements") if isinstance(rule.get("requirements"), Mapping) else {}
    skills = [s.get("skill") if isinstance(s, Mapping) else None for s in items(requirements.get("skills"))]
    problems += [(join_path(path, "requirements", "skills", i), f"skill {key!r} is listed twice")
                 for i, key in enumerate(skills) if key is not None and key in skills[:i]]  # fmt: skip
    relaxation = [c if isinstance(c, str) else None for c in items(rule.get("relaxation"))]
    problems += [(join_path(path, "relaxation", i), f"{c!r} is listed twice")
                 for i, c in enumerate(relaxation) if c is not None and c in relaxation[:i]]  # fmt: skip
    kinds = [step.get("kind") if isinstance(step, Mapping) else None for step in items(rule.get("fallback"))]
    if StepKind.HOLDING in kinds and kinds.index(StepKind.HOLDING) != len(kinds) - 1:
        problems.append((join_path(path, "fallback", kinds.index(StepKind.HOLDING)), HOLDING_NOT_LAST))
    if StepKind.RELAX in kinds and not relaxation:
        problems.append((join_path(path, "fallback", kinds.index(StepKind.RELAX)), RELAX_WITHOUT_ORDER))
    problems += [(join_path(path, "fallback", i), OWNER_NOT_FIRST)
                 for i, kind in enumerate(kinds) if kind == StepKind.ACCOUNT_OWNER and i > 0]  # fmt: skip
    return problems


def rule_reference_problems(
    rule: RuleFile | RuleStored, path: str = "$", *, pools: Iterable[Any], reps: Iterable[Any], skills: Iterable[str],
) -> list[Problem]:  # fmt: skip
    """References of a rule that point at nothing usable.

    ``pools``/``reps`` are the names (file form) or ids (stored form) of the pools and reps that
    exist once the change is applied (active or not: a rule may keep a pool that was switched off,
    so that an export always imports); ``skills`` the skill keys. The editor and the importer pass
    the same kind of sets, so they refuse the same rules.
    """
    pools, reps, skills = set(pools), set(reps), set(skills)
    problems: list[Problem] = []
    by_name = isinstance(rule, RuleFile)
    pool = rule.pool if by_name else rule.pool_id  # type: ignore[union-attr]
    if pool not in pools:
        problems.append((join_path(path, "pool" if by_name else "pool_id"), f"no pool named {pool!r}" if by_name else "Choose the rule's pool."))
    for j, step in enumerate(rule.fallback):
        target = step.target
        if step.kind is StepKind.POOL and target not in pools:
            where = join_path(path, "fallback", j, "pool") if by_name else join_path(path, "fallback", j)
            problems.append((where, f"no pool named {target!r}" if by_name else "Choose the pool to fall back to."))
        elif step.kind is StepKind.BACKUP and target not in reps:
            where = join_path(path, "fallback", j, "rep") if by_name else join_path(path, "fallback", j)
            problems.append((where, f"no rep with username named {target!r}" if by_name else "Choose the backup rep."))
    for j, skill in enumerate(rule.requirements.skills):
        if skill.skill not in skills:
            problems.append((join_path(path, "requirements", "skills", j, "skill"), f"no skill {skill.skill!r} (use kind:code, e.g. product:auto)"))
    return problems


# --- segments -----------------------------------------------------------------------------------


class _SegmentBody(_Model):
    slug: str = Field(min_length=1, max_length=60, pattern=SLUG_RE, description="unique key: letters, digits, `-`, `_`")
    name: str = Field(min_length=1, max_length=100, description="shown on pages")
    sla_minutes: int = Field(ge=1, le=MAX_INT, description="minutes within which a lead of this segment must be accepted")
    accept_fraction: float = Field(0.6, ge=0.05, le=1, description="offer deadline as a fraction of the SLA, 0.05 to 1")
    priority: int = Field(100, ge=0, le=MAX_SMALLINT, description="lower is more urgent (queue order)")
    order: int = Field(100, ge=0, le=MAX_INT, description="qualification order: the first segment whose conditions hold wins")
    conditions: list[Condition] = Field(default_factory=list, description="all must hold")
    is_default: bool = Field(False, description="the segment of a lead no other segment takes; at most one")
    sla_clock: SlaClock = _choice(
        SlaClock.REP,
        "which time the SLA minutes are (routing.engine.sla): `calendar` wall-clock minutes, `segment` open "
        "minutes of the segment's business calendar (needs `calendar`), `rep` the offered rep's working time",
    )  # fmt: skip
    mode: DeliveryMode = _choice(
        DeliveryMode.OFFER,
        "`offer`: the rep accepts or declines and the SLA stops at the accept; `assign`: the rep owns the lead at "
        "once and the SLA stops at their first touch (API or inbox); a miss escalates down the same chain either way",
    )  # fmt: skip

    def dump(self) -> dict[str, Any]:
        return {
            "slug": self.slug, "name": self.name, "sla_minutes": self.sla_minutes,
            "accept_fraction": float(self.accept_fraction), "priority": self.priority, "order": self.order,
            "conditions": [c.dump() for c in self.conditions], "is_default": self.is_default,
            "sla_clock": self.sla_clock.value, "mode": self.mode.value,
        }  # fmt: skip


class SegmentFile(_SegmentBody):
    """A segment in a configuration file (its business calendar by name)."""

    calendar: OptionalRef = Field(None, max_length=100, description="the segment's business calendar, by name (set up on the Calendars page)")

    def dump(self) -> dict[str, Any]:
        return {**super().dump(), "calendar": self.calendar}


class SegmentStored(_SegmentBody):
    """A segment as the tables and published rule sets hold it (its business calendar by id)."""

    id: int = 0
    calendar_id: int | None = Field(None, ge=1)

    def dump(self) -> dict[str, Any]:
        return {**super().dump(), "calendar_id": self.calendar_id}

    def to_spec(self) -> types.SegmentSpec:
        return types.SegmentSpec(
            id=self.id, slug=self.slug, name=self.name, sla_minutes=self.sla_minutes,
            accept_fraction=float(self.accept_fraction), priority=self.priority, order=self.order,
            conditions=tuple(c.to_spec() for c in self.conditions), is_default=self.is_default,
            sla_clock=self.sla_clock.value, calendar_id=self.calendar_id, mode=self.mode.value,
        )  # fmt: skip


def segment_problems(segment: Mapping[str, Any], path: str = "$") -> list[Problem]:
    """A segment on its own calendar's clock (``sla_clock`` ``segment``) names its calendar:
    ``(path.calendar, message)`` when neither ``calendar`` (file) nor ``calendar_id`` (stored) is set."""
    if segment.get("sla_clock") == SlaClock.SEGMENT.value and segment.get("calendar") in (None, "") \
            and segment.get("calendar_id") in (None, ""):
        return [(join_path(path, "calendar"), "a segment on its own calendar's clock needs a calendar")]
    return []


def segments_problems(segments: Sequence[_SegmentBody], path: str = "segments") -> list[Problem]:
    """Across segments: slugs are unique and at most one is the default."""
    problems = duplicate_problems([s.slug for s in segments], path, "slug")
    if sum(1 for s in segments if s.is_default) > 1:
        problems.append((path, "only one segment can be the default"))
    return problems


# --- pools --------------------------------------------------------------------------------------


class PoolMemberFile(_Model):
    rep: str = Field(min_length=1, max_length=150, description="the member, by username")
    weight: int = Field(1, ge=1, le=1000, description="share of leads relative to the other members, 1 to 1000")


class PoolFile(_Model):
    """A pool in a configuration file: named members plus optional dynamic membership."""

    name: str = Field(min_length=1, max_length=100, description="unique")
    description: Text = Field("", max_length=300, description="free text")
    active: bool = Field(True, description="an inactive pool receives nothing")
    manager: OptionalRef = Field(None, description="username of the rep a `manager` fallback step reaches")
    dynamic_skill: OptionalRef = Field(None, description="dynamic membership: every active rep with this skill (`kind:code`) ...")
    dynamic_min_level: int = Field(1, ge=1, le=5, description="... at this level or above, 1 to 5")
    dynamic_team: OptionalRef = Field(None, description="dynamic membership: every active rep in this team")
    dynamic_weight: int = Field(1, ge=1, le=MAX_INT, description="weight of dynamic members, at least 1")
    calendar: OptionalRef = Field(None, max_length=100, description="the pool's opening hours and holidays: a business calendar, by name")
    members: list[PoolMemberFile] = Field(default_factory=list, description="named members and their weights")

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[PoolMemberFile]) -> list[PoolMemberFile]:
        seen: set[str] = set()
        for member in members:
            if member.rep in seen:
                raise PydanticCustomError("duplicate", "rep {rep} is a member twice", {"rep": repr(member.rep)})
            seen.add(member.rep)
        return members

    def dump(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["members"] = sorted(data["members"], key=lambda m: m["rep"])
        return data


# --- accounts -----------------------------------------------------------------------------------

ACCOUNT_STATUSES: Final = ("customer", "prospect")
MAX_ACCOUNT_DOMAINS: Final = 50
_DOMAIN_RE: Final = r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"


def normalise_domain(value: Any) -> str:
    """A domain as accounts store it: lower-case, no scheme, ``www.``, port, path or trailing
    dot; international names in their ``xn--`` form. Raises ``ValueError`` naming the problem."""
    if not isinstance(value, str):
        raise ValueError(f"expected a domain such as acme.com, got {_shown(value)}")
    text = value.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    if text.startswith("www."):
        text = text[4:]
    try:
        text = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        raise ValueError(f"{_shown(value)} is not a domain name") from None
    if not re.match(_DOMAIN_RE, text):
        raise ValueError(f"{_shown(value)} is not a domain such as acme.com")
    return text


def _domains(value: Any) -> Any:
    """A list of domains, or one text with domains separated by spaces, commas, ``;`` or ``|``."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,;|]+", value) if part]
    if not isinstance(value, list):
        raise PydanticCustomError("domains", "expected a list of domains such as [\"acme.com\"]")
    out: list[str] = []
    for item in value:
        try:
            domain = normalise_domain(item)
        except ValueError as exc:
            raise PydanticCustomError("domain", "{problem}", {"problem": str(exc)}) from None
        if domain not in out:
            out.append(domain)
    if len(out) > MAX_ACCOUNT_DOMAINS:
        raise PydanticCustomError("domains", "at most {n} domains", {"n": MAX_ACCOUNT_DOMAINS})
    return out


def _status(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ACCOUNT_STATUSES:
        return value.strip().lower()
    if value is None or value == "":
        return "prospect"
    raise PydanticCustomError("status", "unknown status {value}; use customer or prospect", {"value": _shown(value)})


class AccountFile(_Model):
    """An account: the company a lead may belong to, with its owner. The one schema of the
    config file's ``accounts`` section, the console form, the CSV import and the API upsert."""

    external_id: str = Field(min_length=1, max_length=120, description="the account's id in your CRM: the key of an upsert")
    name: str = Field(min_length=1, max_length=200, description="company name, matched after removing legal suffixes, accents, case and punctuation")
    domains: Annotated[list[str], BeforeValidator(_domains)] = Field(
        default_factory=list, description="web and email domains (`acme.com`); a subdomain of one matches too; each belongs to one account")  # fmt: skip
    owner: OptionalRef = Field(None, max_length=150, description="username of the rep who owns the account (the `account_owner` step)")
    tier: Text = Field("", max_length=30, description="free text, e.g. `enterprise`: rules read it as `account.tier`")
    territory: Text = Field("", max_length=100, description="free text: rules read it as `account.territory`")
    status: Annotated[str, BeforeValidator(_status)] = Field(
        "prospect", description="`customer` or `prospect`: rules read it as `account.status`")  # fmt: skip
    attributes: dict[str, Any] = Field(default_factory=dict, description="custom attributes (a JSON object)")

    @field_validator("attributes")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        for where, problem in storable_problems(value, "attributes"):
            raise PydanticCustomError("storable", "{where}: {problem}", {"where": where, "problem": problem})
        return value

    def dump(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id, "name": self.name, "domains": list(self.domains), "owner": self.owner,
            "tier": self.tier, "territory": self.territory, "status": self.status, "attributes": dict(self.attributes),
        }  # fmt: skip


# --- across objects -----------------------------------------------------------------------------


def duplicate_problems(keys: Sequence[Any], path: str, label: str) -> list[Problem]:
    """``(path[i], "duplicate ...")`` for each key seen before in ``keys`` (blank keys are skipped)."""
    seen: dict[Any, int] = {}
    problems: list[Problem] = []
    for i, key in enumerate(keys):
        if key in (None, ""):
            continue
        if key in seen:
            problems.append((join_path(path, i), f"duplicate {label} {key!r} (also {join_path(path, seen[key])})"))
        seen.setdefault(key, i)
    return problems


def manager_cycle(managers: Mapping[Any, Any]) -> list[Any] | None:
    """A cycle in "rep -> their manager" (``{rep: manager or None}``), as ``[a, b, ..., a]``, or None.

    A rep managing themselves is a cycle of one. Escalation to "the manager" would loop forever
    around a cycle, so both the importer and the rep form refuse one.
    """
    done: set[Any] = set()
    for start in managers:
        if start in done:
            continue
        trail: list[Any] = []
        on_trail: set[Any] = set()
        node = start
        while node is not None and node not in done:
            if node in on_trail:
                return trail[trail.index(node):] + [node]
            trail.append(node)
            on_trail.add(node)
            node = managers.get(node)
        done.update(trail)
    return None


ROLE_REP: Final = "Rep"


def rep_login_problem(*, roles: Iterable[str], is_superuser: bool, is_staff: bool, has_rep: bool) -> str | None:
    """Why an existing login cannot become a rep's login, or None.

    A rep profile may take a login that has the Rep role (a manager who also works leads has
    both) or a plain login with no role and no admin rights (it then gets the Rep role). It may
    not take another rep's login, nor a Sales Ops, Manager or admin login without the Rep role:
    that person would start receiving leads, and the rep would inherit their rights.
    """
    if has_rep:
        return "this login already belongs to a rep"
    roles = set(roles)
    if ROLE_REP in roles:
        return None
    if is_superuser or is_staff:
        return "this login is an administrator, not a rep"
    if roles:
        return f"this login has the role {', '.join(sorted(roles))}, not a rep"
    return None


# --- error messages -----------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: Mapping[str, Any]) -> str:
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {_shown(given)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_shown(given)}"
    if kind == "string_type":
        return f"expected text, got {_shown(given)}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"expected a finite number, got {_shown(given)}"
    if kind in ("list_type",):
        return "expected a list"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "expected an object"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, got {_shown(given)}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, got {_shown(given)}"
    if kind == "string_too_short":
        return "is required"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return "use only letters, digits, '-' and '_'"
    if kind in ("enum", "literal_error"):
        return f"unknown value {_shown(given)}; use one of {str(ctx.get('expected', '')).replace(chr(39), '')}"
    return str(error["msg"]).removeprefix("Value error, ")


def problems_from(exc: ValidationError, path: str = "$") -> list[Problem]:
    """A pydantic error as ``(path, message)`` pairs in the format's terms."""
    out = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))]
        out.append((join_path(path, *loc), _message(error)))
    return out


def validate(model: type[_Model], data: Any, path: str = "$") -> tuple[Any, list[Problem]]:
    """``(instance or None, problems)``: storable JSON first, then the model, then its cross-field checks."""
    problems = storable_problems(data, path)
    if problems:
        return None, problems
    if issubclass(model, _RuleBody) and isinstance(data, Mapping):
        problems = rule_problems(data, path)
    if issubclass(model, _SegmentBody) and isinstance(data, Mapping):
        problems = segment_problems(data, path)
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        return None, problems_from(exc, path) + problems
    return (None if problems else obj), problems


def read_stored(model: type[_Model], data: Any) -> Any:
    """A stored object (a published rule set's rule or segment) read for routing.

    Types are checked, but not the editing rules that may have tightened since it was published
    (a condition the editor now refuses still evaluates, as a non-match): routing must keep
    reading every published version, and keys it does not know are left out. Raises
    ``pydantic.ValidationError`` on a wrong type.
    """
    data = copy.deepcopy(data)
    for _attempt in range(20):
        try:
            return model.model_validate(data, context={"stored": True})
        except ValidationError as exc:
            extras = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extras or len(extras) != exc.error_count():
                raise
            for loc in extras:  # a key an older or newer release wrote: not ours to refuse here
                holder = data
                for part in loc[:-1]:
                    holder = holder[part]
                holder.pop(loc[-1], None)
    return model.model_validate(data, context={"stored": True})


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration objects (for documentation and tooling)."""
    return {name: model.model_json_schema() for name, model in DOCUMENTED.items()}


# Documented in docs/config-format.md (the test in tests/routing/engine/test_schema.py checks it).
DOCUMENTED: Final[dict[str, type[_Model]]] = {
    "rules[]": RuleFile, "rules[].conditions[]": Condition, "rules[].requirements": Requirements,
    "rules[].requirements.skills[]": SkillRequirement, "rules[].fallback[]": FallbackFile,
    "segments[]": SegmentFile, "pools[]": PoolFile, "pools[].members[]": PoolMemberFile,
    "accounts[]": AccountFile,
}  # fmt: skip


def reference_markdown(models: Mapping[str, type[BaseModel]] = DOCUMENTED) -> str:
    """The field reference of docs/config-format.md, generated from the models' field descriptions.

    ``manage.py configdoc`` writes it between the ``schema:begin``/``schema:end`` markers; a test
    fails when the committed document differs, so the documentation cannot drift from the schema.
    """
    lines = ["| Field | Default | Meaning |", "|---|---|---|"]
    for prefix, model in models.items():
        for name, info in model.model_fields.items():
            if info.is_required():
                default = "required"
            elif info.default_factory is not None:
                default = "`[]`" if info.default_factory is list else "see below"
            else:
                value = info.default.value if hasattr(info.default, "value") else info.default
                default = f"`{json.dumps(value)}`"
            meaning = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{prefix}.{name}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"
