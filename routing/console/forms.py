"""Forms of the ops console.

The rule editor is a plain form plus four lists of rows (conditions, required skills, fallback
steps, relaxation order). Rows are posted as parallel lists (``cond_field``, ``cond_op``, ...);
buttons named ``action`` add, remove or move rows server-side, so the builder works with or
without htmx and needs no hand-written JavaScript (CSP allows none inline).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.db.models import Q
from django.http import QueryDict

from calendars.forms import TimezoneField, WeeklyHoursField
from reps.models import Absence, Licence, Pool, PoolMember, Rep, RepSkill, Skill, Team, Territory, Tier
from routing.engine import LEAD_FIELDS, schema
from routing.engine.conditions import LIST_OPS, NUMERIC_OPS, PRESENCE_OPS
from routing.engine.types import Op, StepKind
from routing import labels
from routing.console import selectors
from routing.models import FALLBACK_KINDS, Rule, Segment
from routing.import_mapping import FIELD_LABELS
from routing.reference import jurisdiction_code, place_problem_or_codes
from routing.validation import contains_nul as has_nul
from routing.validation import lead_input_fields

FIELD_NAMES = [name for name in LEAD_FIELDS if name != "attributes"]
FIELD_CHOICES = [(name, labels.field_label(name)) for name in FIELD_NAMES]
OP_CHOICES = labels.op_choices()
CRITERION_CHOICES = labels.criterion_choices()
FALLBACK_CHOICES = labels.fallback_choices(FALLBACK_KINDS)
# Shown in place of a target for the kinds that need none.
FALLBACK_HINTS = [
    (StepKind.ACCOUNT_OWNER.value, "the matched account's owner, before the pool (first step only; caps apply "
                                   "unless the configuration file sets respect_caps: false)"),
    (StepKind.RELAX.value, "the rule's pool again, relaxing the next criterion below"),
    (StepKind.MANAGER.value, "the pool's manager (no target to choose)"),
    (StepKind.HOLDING.value, "parks the lead until someone can take it; ends the chain"),
]
TIER_CHOICES = [("", "—")] + [(str(v), label) for v, label in Tier.choices]
MAX_NUMBER_DIGITS = 20  # condition numbers compare with lead values (at most 12 integer digits)
MAX_JSON_BYTES = 64 * 1024
MAX_CONFIG_BYTES = 5 * 1024 * 1024
NUL_ERROR = "Contains a NUL character."


def parse_json_text(text: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON value typed or pasted into a box, or a ValidationError that says what is wrong with it."""
    if len(text) > max_bytes:
        raise forms.ValidationError(f"At most {max_bytes // 1024} KB of JSON.")
    try:
        value = schema.load_json(text)
    except ValueError as exc:
        raise forms.ValidationError(str(exc)) from None
    if has_nul(value):
        raise forms.ValidationError(NUL_ERROR)
    problems = schema.storable_problems(value)
    if problems:
        raise forms.ValidationError([f"{path}: {message}" for path, message in problems[:10]])
    return value


class StorableJSONFormField(forms.JSONField):
    """Django's JSON form field, refusing what PostgreSQL cannot store (NaN, infinity, lone
    surrogates, NUL; by path) and re-rendering with ASCII escapes, so a lone surrogate in the
    posted text cannot break the page that shows the error."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        return json.dumps(value, ensure_ascii=True, cls=self.encoder)

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except ValueError:  # an integer literal of more than 4,300 digits
            raise forms.ValidationError("Not valid JSON: a number is too long.") from None

    def validate(self, value: Any) -> None:
        super().validate(value)
        problems = schema.storable_problems(value)
        if problems:
            raise forms.ValidationError([f"{path}: {message}" for path, message in problems[:10]])


def manager_cycle_error(*, rep_id: int | None, manager: Rep | None, name: str = "this rep") -> str | None:
    """"Managers would form a cycle: …" when ``manager`` (directly or up the chain) reports to the
    rep; the same check as the importer's (``schema.manager_cycle``)."""
    if manager is None:
        return None
    me = rep_id or "new rep"
    managers: dict[Any, Any] = dict(Rep.objects.values_list("id", "manager_id"))
    managers[me] = manager.pk
    cycle = schema.manager_cycle(managers)
    if cycle is None or me not in cycle:
        return None
    names = dict(Rep.objects.filter(id__in=[c for c in cycle if c != me]).values_list("id", "display_name"))
    return f"Managers would form a cycle: {' → '.join(names.get(c, name) for c in cycle)}."


def rep_login_error(account: Any, *, rep_id: int | None = None) -> str | None:
    """Why ``account`` cannot be a rep's login (``schema.rep_login_problem``), as a sentence, or None."""
    if account is None:
        return None
    problem = schema.rep_login_problem(
        roles=account.groups.values_list("name", flat=True), is_superuser=account.is_superuser,
        is_staff=account.is_staff, has_rep=Rep.objects.filter(user=account).exclude(pk=rep_id).exists(),
    )  # fmt: skip
    return f"{problem[0].upper()}{problem[1:]}." if problem else None


def digits_to_id(text: str) -> int | None:
    """An id typed as ASCII digits (``"²".isdigit()`` is true, ``int("²")`` fails), else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


# --- condition values ---------------------------------------------------------------------


def _op(op: str) -> Op | None:
    try:
        return Op(op)
    except ValueError:
        return None


def _number(text: str) -> Any:
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return text  # left as typed: validate_condition names the problem
    if not number.is_finite() or number.adjusted() > MAX_NUMBER_DIGITS or number.adjusted() < -MAX_NUMBER_DIGITS:
        return text  # int(Decimal("1e999999")) alone takes a minute
    return int(number) if number == number.to_integral_value() else format(number, "f")


def text_to_value(field: str, op: str, text: str) -> Any:
    """What a row's value box means for this field and operator (lists split on commas)."""
    parsed, text = _op(op), (text or "").strip()
    numeric_field = LEAD_FIELDS.get(field) in ("decimal", "int")
    if parsed is None or parsed in PRESENCE_OPS:
        return None
    if parsed in LIST_OPS or parsed is Op.BETWEEN:
        items = [item.strip() for item in text.split(",") if item.strip()]
        return [_number(i) if numeric_field or parsed is Op.BETWEEN else i for i in items]
    if parsed in NUMERIC_OPS or (numeric_field and parsed in (Op.EQUALS, Op.NOT_EQUALS)):
        return _number(text) if text else None
    return text


def value_to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def value_input(field: str, op: str) -> dict[str, str]:
    """The input that fits the field's type and the operator."""
    parsed = _op(op)
    numeric_field = LEAD_FIELDS.get(field) in ("decimal", "int")
    if parsed in PRESENCE_OPS:
        return {"type": "hidden", "placeholder": ""}
    if parsed is Op.BETWEEN:
        return {"type": "text", "placeholder": "low, high"}
    if parsed in LIST_OPS:
        return {"type": "text", "placeholder": "a, b, c"}
    if parsed in NUMERIC_OPS or numeric_field:
        return {"type": "number", "placeholder": "number"}
    return {"type": "text", "placeholder": "value"}


class ConditionRows:
    """The rows of a condition builder, read from a rule/segment or from POST data."""

    def __init__(self, conditions: list[dict[str, Any]] | None = None, data: QueryDict | None = None) -> None:
        if data is not None:
            fields, ops, texts = data.getlist("cond_field"), data.getlist("cond_op"), data.getlist("cond_value")
            self.rows = [
                {"field": f.strip(), "op": o, "text": t}
                for f, o, t in zip(fields, ops, texts + [""] * (len(fields) - len(texts)), strict=False)
            ]
        else:
            self.rows = [
                {"field": c.get("field", ""), "op": c.get("op", "equals"), "text": value_to_text(c.get("value"))}
                for c in conditions or []
            ]
        self.errors: dict[int, list[str]] = {}

    def act(self, action: str) -> None:
        if action == "add_condition":
            self.rows.append({"field": "", "op": "equals", "text": ""})
        elif action.startswith("remove_condition:"):
            _pop(self.rows, action)

    def clean(self) -> list[dict[str, Any]]:
        """The rows as stored conditions; each row's problems (from ``schema.Condition``) in ``errors``."""
        out = []
        for i, row in enumerate(self.rows):
            value = text_to_value(row["field"], row["op"], row["text"])
            item = {"field": row["field"], "op": row["op"]}
            if _op(row["op"]) not in PRESENCE_OPS:
                item["value"] = value
            condition, problems = schema.validate(schema.Condition, item)
            if problems:
                self.errors[i] = [_row_message(path, message) for path, message in problems]
            out.append(condition.dump() if condition is not None else item)
        return out

    def render(self) -> list[dict[str, Any]]:
        return [{**row, "input": value_input(row["field"], row["op"]), "errors": self.errors.get(i, [])}
                for i, row in enumerate(self.rows)]  # fmt: skip


def _row_message(path: str, message: str) -> str:
    """A schema problem shown on its row: the path inside the row, if any, then the message."""
    return message if path == "$" else f"{path.split('.')[-1]}: {message}"


def _pop(rows: list, action: str) -> None:
    try:
        index = int(action.split(":", 1)[1])
    except ValueError:
        return
    if 0 <= index < len(rows):
        rows.pop(index)


def _move(rows: list, action: str) -> None:
    name, _, raw = action.partition(":")
    try:
        index = int(raw)
    except ValueError:
        return
    other = index - 1 if name.endswith("_up") else index + 1
    if 0 <= index < len(rows) and 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]


# --- rules ----------------------------------------------------------------------------------


class RuleForm(forms.ModelForm):
    req_min_tier = forms.TypedChoiceField(choices=TIER_CHOICES, required=False, coerce=int, empty_value=None,
                                          label="Minimum seniority tier")  # fmt: skip
    high_value_min_tier = forms.TypedChoiceField(choices=TIER_CHOICES, required=False, coerce=int, empty_value=None,
                                                 label="High-value minimum tier")  # fmt: skip

    class Meta:
        model = Rule
        fields = ["name", "priority", "enabled", "pool", "strategy", "value_threshold", "high_value_min_tier",
                  "reroute_on_escalation"]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One checkbox per yes/no requirement of the schema, labelled by the schema.
        for flag, label in schema.requirement_flags():
            self.fields[f"req_{flag}"] = forms.BooleanField(required=False, label=label)
        current = Q(pk=self.instance.pool_id) if self.instance.pool_id else Q(pk__in=[])
        self.fields["pool"].queryset = Pool.objects.filter(Q(active=True) | current)  # a switched-off pool stays
        if not self.is_bound and self.instance.pk:
            req = self.instance.requirements or {}
            for flag, _label in schema.requirement_flags():
                self.initial[f"req_{flag}"] = bool(req.get(flag))
            self.initial["req_min_tier"] = req.get("min_tier")
        elif not self.is_bound:
            self.initial["priority"] = selectors.rule_priority_for_new()


class RuleEditor:
    """A rule form with its four row lists; ``act`` applies a builder button, ``is_valid`` saves."""

    def __init__(self, *, rule: Rule | None, data: QueryDict | None = None) -> None:
        self.rule = rule or Rule()
        self.form = RuleForm(data, instance=self.rule) if data is not None else RuleForm(instance=self.rule)
        self.conditions = ConditionRows(self.rule.conditions, data)
        req = self.rule.requirements or {}
        if data is not None:
            self.skills = [{"skill": s, "min_level": lv} for s, lv in zip(data.getlist("req_skill"), data.getlist("req_level"), strict=False)]
            self.fallback = [
                {"kind": k, "pool": p, "rep": r}
                for k, p, r in zip(data.getlist("fb_kind"), data.getlist("fb_pool"), data.getlist("fb_rep"), strict=False)
            ]
            self.relaxation = list(data.getlist("relax"))
        else:
            self.skills = [{"skill": s.get("skill", ""), "min_level": str(s.get("min_level", 1))} for s in req.get("skills", [])]
            self.fallback = [
                {"kind": s.get("kind", ""),
                 "pool": str(s.get("target_id") or "") if s.get("kind") == StepKind.POOL else "",
                 "rep": str(s.get("target_id") or "") if s.get("kind") == StepKind.BACKUP else ""}
                for s in self.rule.fallback or []
            ] if self.rule.pk else [{"kind": "holding", "pool": "", "rep": ""}]  # fmt: skip
            self.relaxation = list(self.rule.relaxation or [])
        self.row_errors: dict[str, dict[int, list[str]]] = {"skills": {}, "fallback": {}, "relaxation": {}}

    def act(self, action: str) -> None:
        self.conditions.act(action)
        if action == "add_skill":
            self.skills.append({"skill": "", "min_level": "1"})
        elif action.startswith("remove_skill:"):
            _pop(self.skills, action)
        elif action == "add_fallback":
            self.fallback.append({"kind": "holding", "pool": "", "rep": ""})
        elif action.startswith("remove_fallback:"):
            _pop(self.fallback, action)
        elif action.startswith(("fallback_up:", "fallback_down:")):
            _move(self.fallback, action)
        elif action == "add_relax":
            unused = [c for c, _ in CRITERION_CHOICES if c not in self.relaxation]
            if unused:
                self.relaxation.append(unused[0])
        elif action.startswith("remove_relax:"):
            _pop(self.relaxation, action)
        elif action.startswith(("relax_up:", "relax_down:")):
            _move(self.relaxation, action)

    def is_valid(self) -> bool:
        """Validate through ``schema.RuleStored`` (the importer's schema): the same verdict, with each
        problem shown on its field or row. ``values`` then holds the model fields to save."""
        self.form.is_valid()
        self.values = {}
        data = self.form.cleaned_data
        conditions = self.conditions.clean()
        skills = [{"skill": row["skill"], "min_level": _whole(row["min_level"])} for row in self.skills]
        fallback = []
        for row in self.fallback:
            step: dict[str, Any] = {"kind": row["kind"]}
            if row["kind"] in (StepKind.POOL, StepKind.BACKUP):
                step["target_id"] = digits_to_id(row["pool"] if row["kind"] == StepKind.POOL else row["rep"])
            elif row["kind"] == StepKind.ACCOUNT_OWNER:  # the editor keeps what the file set
                previous = next((s for s in self.rule.fallback or [] if s.get("kind") == StepKind.ACCOUNT_OWNER), {})
                step["respect_caps"] = previous.get("respect_caps", True) is not False
            fallback.append(step)
        pool = data.get("pool")
        stored = {
            "name": data.get("name") or "-", "priority": data.get("priority", 0), "enabled": data.get("enabled", True),
            "pool_id": pool.pk if pool is not None else 1, "strategy": data.get("strategy") or "weighted_fair",
            "value_threshold": data.get("value_threshold"), "high_value_min_tier": data.get("high_value_min_tier"),
            "reroute_on_escalation": data.get("reroute_on_escalation", True), "conditions": conditions,
            "fallback": fallback, "relaxation": list(self.relaxation),
            "requirements": {"skills": skills, "min_tier": data.get("req_min_tier"),
                             **{flag: data.get(f"req_{flag}", False) for flag, _ in schema.requirement_flags()}},
        }  # fmt: skip
        rule, problems = selectors.rule_check(stored)
        if pool is None:  # the form already says what is wrong with the pool
            problems = [(p, m) for p, m in problems if p != "pool_id"]
        self._place(problems)
        if self.form.errors or self.conditions.errors or any(self.row_errors.values()) or rule is None:
            return False
        self.values = {**rule.values(), "pool": pool}
        del self.values["pool_id"]
        return True

    def _place(self, problems: list[tuple[str, str]]) -> None:
        """Each schema problem next to what the user edits: a row of a list, else a form field."""
        rows = {"conditions": self.conditions.errors, "requirements.skills": self.row_errors["skills"],
                "fallback": self.row_errors["fallback"], "relaxation": self.row_errors["relaxation"]}  # fmt: skip
        fields = {"pool_id": "pool", "requirements.min_tier": "req_min_tier"}
        for path, message in problems:
            match = re.match(r"^(conditions|requirements\.skills|fallback|relaxation)\[(\d+)\](?:\.(.+))?$", path)
            if match:
                errors = rows[match.group(1)].setdefault(int(match.group(2)), [])
                if match.group(1) != "conditions" or not errors:  # a condition row already said it
                    errors.append(f"{match.group(3)}: {message}" if match.group(3) else message)
                continue
            name = fields.get(path, path.split(".")[0] if path.split(".")[0] in self.form.fields else None)
            if name is None and path.startswith("requirements."):
                name = f"req_{path.split('.')[1]}" if f"req_{path.split('.')[1]}" in self.form.fields else None
            if name is not None and name in self.form.errors:
                continue  # the form's own message already stands there
            self.form.add_error(name, message if name else f"{path}: {message}")

    def context(self) -> dict[str, Any]:
        return {
            "form": self.form, "rule": self.rule, "condition_rows": self.conditions.render(),
            "skill_rows": [{**r, "errors": self.row_errors["skills"].get(i, [])} for i, r in enumerate(self.skills)],
            "fallback_rows": [{**r, "errors": self.row_errors["fallback"].get(i, [])} for i, r in enumerate(self.fallback)],
            "relax_rows": [{"value": r, "errors": self.row_errors["relaxation"].get(i, [])} for i, r in enumerate(self.relaxation)],
            **builder_choices(),
        }  # fmt: skip


def _whole(text: Any) -> Any:
    """A level typed into a box: a whole number, or the text as typed so the schema can name it."""
    text = str(text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else text


def builder_choices() -> dict[str, Any]:
    return {
        "field_names": FIELD_NAMES, "field_choices": FIELD_CHOICES, "op_choices": OP_CHOICES, "criterion_choices": CRITERION_CHOICES,
        "fallback_choices": FALLBACK_CHOICES, "fallback_hints": FALLBACK_HINTS,
        "skill_choices": [(s.key, str(s)) for s in Skill.objects.filter(active=True)],
        "pool_choices": [(str(p.id), p.name) for p in Pool.objects.filter(active=True)],
        "rep_choices": [(str(r.id), r.display_name) for r in Rep.objects.filter(active=True)],
    }  # fmt: skip


# --- everything a rule refers to -------------------------------------------------------------


class JSONTextField(forms.CharField):
    """A JSON value typed into a textarea (working hours)."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value if value is not None else {})

    def to_python(self, value: Any) -> Any:
        text = (value or "").strip()
        return parse_json_text(text) if text else {}


class SkillForm(forms.ModelForm):
    class Meta:
        model = Skill
        fields = ["kind", "code", "name", "active"]


class TerritoryForm(forms.ModelForm):
    """Country and region accepted as leads are (codes, ISO 3166 names, alpha-3) and stored as the
    codes the lead normaliser stores, so the territory matches normalised leads."""

    country = forms.CharField(max_length=100, help_text="ISO 3166-1 code or English name, e.g. US or Germany")
    region = forms.CharField(max_length=100, required=False, help_text="State or region: ISO 3166-2 code or name, e.g. CA or California")

    class Meta:
        model = Territory
        fields = ["name", "parent", "country", "region", "postal_prefix", "active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "country" in data:
            found = place_problem_or_codes(country=data["country"], region=data.get("region") or "")
            if isinstance(found, dict):
                for name, message in found.items():
                    self.add_error(name, message)
            else:
                data["country"], data["region"] = found
        return data


class PoolForm(forms.ModelForm):
    """A pool; its values pass ``schema.PoolFile`` (the importer's model), references as names."""

    class Meta:
        model = Pool
        fields = ["name", "description", "active", "manager", "dynamic_skill", "dynamic_min_level", "dynamic_team",
                  "dynamic_weight", "calendar"]  # fmt: skip
        labels = {"dynamic_skill": "Dynamic: every active rep with skill", "dynamic_min_level": "… at level at least",
                  "dynamic_team": "Dynamic: every active rep in team", "dynamic_weight": "Weight of dynamic members",
                  "calendar": "Opening hours (business calendar)", "manager": "Pool manager"}  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        manager, skill, team = data.get("manager"), data.get("dynamic_skill"), data.get("dynamic_team")
        values = {
            "name": data.get("name"), "description": data.get("description"), "active": data.get("active"),
            "manager": manager.user.get_username() if manager else None, "dynamic_skill": skill.key if skill else None,
            "dynamic_min_level": data.get("dynamic_min_level"), "dynamic_team": team.name if team else None,
            "dynamic_weight": data.get("dynamic_weight"),
            "calendar": data["calendar"].name if data.get("calendar") else None,
        }  # fmt: skip
        _pool, problems = schema.validate(schema.PoolFile, values)
        for path, message in problems:
            name = path.split(".")[0]
            self.add_error(name if name in self.fields else None, message)
        return data


class PoolMemberForm(forms.ModelForm):
    """A member row; its weight passes ``schema.PoolMemberFile`` as in an imported file."""

    class Meta:
        model = PoolMember
        fields = ["rep", "weight"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        rep = data.get("rep")
        if self.errors or rep is None or data.get("DELETE"):
            return data
        _member, problems = schema.validate(schema.PoolMemberFile, {"rep": rep.user.get_username(), "weight": data.get("weight")})
        for path, message in problems:
            name = path.split(".")[0]
            self.add_error(name if name in self.fields else None, message)
        return data


class SegmentForm(forms.ModelForm):
    """A segment; its values (conditions are checked row by row) pass ``schema.SegmentStored``."""

    class Meta:
        model = Segment
        fields = ["slug", "name", "sla_minutes", "accept_fraction", "sla_clock", "calendar", "mode", "priority",
                  "order", "is_default"]  # fmt: skip
        labels = {"slug": "Short name (in URLs and conditions)", "sla_minutes": "SLA minutes",
                  "accept_fraction": "Share of the SLA a rep has to accept", "sla_clock": "SLA clock",
                  "mode": "Delivery", "priority": "Queue priority", "order": "Qualification order",
                  "is_default": "Default segment (for leads no other segment claims)"}  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sla_clock"].required = False  # omitted = the default, the rep's working time
        self.fields["mode"].required = False  # omitted = offer, today's accept/decline

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["sla_clock"] = data.get("sla_clock") or "rep"
        data["mode"] = data.get("mode") or "offer"
        if data.get("sla_clock") == "segment" and not data.get("calendar"):
            self.add_error("calendar", "Choose the calendar this segment's SLA clock counts on.")
        if self.errors:
            return data
        values = {name: data.get(name) for name in self.Meta.fields if name != "calendar"}
        calendar = data.get("calendar")
        values["calendar_id"] = calendar.pk if calendar else None
        _segment, problems = schema.validate(schema.SegmentStored, values)
        for path, message in problems:
            name = path.split(".")[0]
            name = "calendar" if name == "calendar_id" else name
            self.add_error(name if name in self.fields else None, message)
        return data


class RepForm(forms.ModelForm):
    username = forms.SlugField(max_length=150, required=False, help_text="New reps only: their login")
    email = forms.EmailField(required=False)
    timezone = TimezoneField()
    working_hours = WeeklyHoursField(label="Working hours")

    class Meta:
        model = Rep
        fields = ["display_name", "tier", "timezone", "working_hours", "calendar", "active", "team", "manager",
                  "max_open", "max_daily", "max_weekly", "territories"]  # fmt: skip
        widgets = {"territories": forms.CheckboxSelectMultiple}
        labels = {"display_name": "Name", "max_open": "Most open leads at once", "max_daily": "Most new leads a day",
                  "max_weekly": "Most new leads a week", "tier": "Seniority tier"}  # fmt: skip
        help_texts = {"max_open": "Offers and accepted leads still open; blank = no cap",
                      "max_daily": "Counted in the rep's own timezone; blank = no cap",
                      "max_weekly": "Monday to Sunday in the rep's timezone; blank = no cap",
                      "territories": "Tick every territory this rep covers"}  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territories"].queryset = Territory.objects.filter(active=True)
        self.fields["team"].queryset = Team.objects.all()
        if self.instance.pk:
            self.fields["manager"].queryset = Rep.objects.exclude(pk=self.instance.pk)
            del self.fields["username"]
            self.initial.setdefault("email", self.instance.user.email)

    def clean_username(self) -> str:
        from django.contrib.auth import get_user_model

        username = self.cleaned_data.get("username", "")
        if not username:
            raise forms.ValidationError("A new rep needs a username.")
        User = get_user_model()
        error = rep_login_error(User.objects.filter(username=username).first())
        if error:
            raise forms.ValidationError(error)
        return username

    def clean_manager(self) -> Rep | None:
        manager = self.cleaned_data.get("manager")
        error = manager_cycle_error(rep_id=self.instance.pk, manager=manager,
                                    name=self.cleaned_data.get("display_name") or "this rep")  # fmt: skip
        if error:
            raise forms.ValidationError(error)
        return manager

    def clean_working_hours(self) -> dict[str, Any]:
        # An empty list or null skips the model validator (empty values are not validated) but breaks routing.
        value = self.cleaned_data["working_hours"]
        if not isinstance(value, dict):
            raise forms.ValidationError("Working hours must be an object keyed by weekday (mon..sun)")
        return value


# A rep has a handful of skills, licences and absences: a tampered TOTAL_FORMS must not build 2,000 forms.
REP_ROWS = {"extra": 1, "can_delete": True, "max_num": 100, "absolute_max": 100, "validate_max": True}
RepSkillFormSet = forms.inlineformset_factory(Rep, RepSkill, fields=["skill", "level"], **REP_ROWS)
class ListedChoiceField(forms.ChoiceField):
    """A select whose choices are computed per form. ``also_valid(value)`` accepts what the list
    leaves out on purpose (every ISO 3166-2 code, though only some countries' regions are listed;
    a value saved before, e.g. by an import)."""

    def __init__(self, *, choices: Any, also_valid: Any = None, **kwargs: Any) -> None:
        super().__init__(choices=choices, **kwargs)
        self.also_valid = also_valid or (lambda value: False)

    def valid_value(self, value: Any) -> bool:
        return super().valid_value(value) or (bool(value) and self.also_valid(value))


def is_jurisdiction(value: str) -> bool:
    """A country or subdivision the lead normaliser knows (``routing.reference.jurisdiction_code``)."""
    return jurisdiction_code(str(value)) is not None


def jurisdiction_choices(extra: Any = ()) -> list[Any]:
    """Whole countries, then the states or regions of the countries LeadOps works in (those of
    its territories, its licences and ``extra``), from ISO 3166 (pycountry): "US-CA" reads
    "California (US-CA)". Grouped for the select. Two queries."""
    from reps.models import Licence as LicenceModel

    wanted = {str(c).upper() for c in Territory.objects.exclude(country="").values_list("country", flat=True)}
    wanted |= {j.split("-")[0].upper() for j in LicenceModel.objects.values_list("jurisdiction", flat=True).distinct()}
    wanted |= {str(e).split("-")[0].upper() for e in extra if e}
    return _jurisdiction_groups(frozenset(wanted or {"US"}))  # nothing configured yet: the demo's and most users' country


@lru_cache(maxsize=32)
def _jurisdiction_groups(wanted: frozenset[str]) -> list[Any]:
    import pycountry

    countries = sorted(pycountry.countries, key=lambda c: c.name)
    groups: list[Any] = [("", "—"), ("Whole countries", [(c.alpha_2, f"{c.name} ({c.alpha_2})") for c in countries])]
    for country in sorted(wanted):
        found = pycountry.countries.get(alpha_2=country)
        subs = sorted(pycountry.subdivisions.get(country_code=country) or (), key=lambda s: s.name) if found else []
        if subs:
            groups.append((f"{found.name}: states and regions", [(s.code, f"{s.name} ({s.code})") for s in subs]))
    return groups


def product_line_choices(extra: Any = ()) -> list[tuple[str, str]]:
    """Every product line: "any product line" (the engine's wildcard), the product skills and the
    lines licences already name."""
    from reps.models import Licence as LicenceModel
    from routing.engine.eligibility import WILDCARD_PRODUCT_LINE

    named = {s.code: s.name for s in Skill.objects.filter(kind=Skill.Kind.PRODUCT)}
    for line in [*LicenceModel.objects.values_list("product_line", flat=True).distinct(), *extra]:
        if line and line != WILDCARD_PRODUCT_LINE:
            named.setdefault(line, line)
    return [("", "—"), (WILDCARD_PRODUCT_LINE, "Any product line")] + sorted(named.items(), key=lambda i: i[1].lower())


class LicenceForm(forms.ModelForm):
    """A licence row: jurisdiction and product line picked from lists, not typed. ``choices``
    (from ``LicenceRows``) saves every row from querying the lists again."""

    class Meta:
        model = Licence
        fields = ["jurisdiction", "product_line", "valid_from", "valid_until"]
        widgets = {"valid_from": forms.DateInput(attrs={"type": "date"}), "valid_until": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, choices: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        saved_j, saved_p = self.instance.jurisdiction or "", self.instance.product_line or ""
        choices = choices or {}
        self.fields["jurisdiction"] = ListedChoiceField(
            choices=choices.get("jurisdiction") or jurisdiction_choices([saved_j]), label="Jurisdiction", also_valid=lambda v: v == saved_j or is_jurisdiction(v),
            help_text="A state or region, or a whole country",
            error_messages={"invalid_choice": "Unknown jurisdiction: use an ISO 3166 country (US) or subdivision (US-CA) code."},
        )  # fmt: skip
        # Product lines are the company's own words: the list offers the known ones, and a line
        # posted by a script or an older page is kept as typed, as the model always allowed.
        self.fields["product_line"] = ListedChoiceField(choices=choices.get("product_line") or product_line_choices([saved_p]), label="Product line",
                                                        also_valid=lambda v: len(v) <= 50)  # fmt: skip

    def clean_jurisdiction(self) -> str:
        # Stored as the code leads are compared with (the same normaliser as the config import).
        return jurisdiction_code(self.cleaned_data["jurisdiction"]) or self.cleaned_data["jurisdiction"]


class LicenceRows(forms.BaseInlineFormSet):
    """The lists are worked out once for all rows (they include every row's saved value)."""

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        if not hasattr(self, "_choices"):
            saved = list(self.get_queryset().values_list("jurisdiction", "product_line")) if self.instance.pk else []
            self._choices = {"jurisdiction": jurisdiction_choices([j for j, _ in saved]),
                             "product_line": product_line_choices([p for _, p in saved])}  # fmt: skip
        return {**super().get_form_kwargs(index), "choices": self._choices}


LicenceFormSet = forms.inlineformset_factory(
    Rep, Licence, form=LicenceForm, formset=LicenceRows, fields=["jurisdiction", "product_line", "valid_from", "valid_until"], **REP_ROWS,
    widgets={"valid_from": forms.DateInput(attrs={"type": "date"}), "valid_until": forms.DateInput(attrs={"type": "date"})},
)  # fmt: skip
AbsenceFormSet = forms.inlineformset_factory(
    Rep, Absence, fields=["starts_at", "ends_at", "reason", "note"], **REP_ROWS,
    widgets={"starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
             "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")},
)  # fmt: skip
PoolMemberFormSet = forms.inlineformset_factory(Pool, PoolMember, form=PoolMemberForm, fields=["rep", "weight"], extra=1,
                                                can_delete=True)  # fmt: skip


def formset_add_row(data: QueryDict, *, prefix: str) -> QueryDict:
    """The posted data with one more (empty) row in the formset ``prefix``: "Add another row"
    without saving. An unknown prefix or a row count past the formset's maximum leaves it as is."""
    data = data.copy()
    key = f"{prefix}-TOTAL_FORMS"
    total = digits_to_id(data.get(key, ""))
    if total is not None and total < REP_ROWS["max_num"]:
        data[key] = str(total + 1)
    return data


def quiet(form: forms.BaseForm, formsets: list[Any]) -> None:
    """Render bound forms without validating them (a builder button, not a save)."""
    from django.forms.utils import ErrorDict, ErrorList

    for f in [form, *(sub for fs in formsets for sub in fs.forms)]:
        f._errors = ErrorDict()
        f.cleaned_data = {}
    for fs in formsets:
        fs._errors, fs._non_form_errors = [], ErrorList()


# --- test a lead, import --------------------------------------------------------------------


class TestLeadForm(forms.Form):
    MODE_CHOICES = [("draft", "Draft (unpublished rules)"), ("live", "Live (published version)")]

    mode = forms.ChoiceField(choices=MODE_CHOICES, initial="draft", widget=forms.RadioSelect)
    lead_json = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}), label="Lead JSON",
                                help_text="Paste a lead as posted to the API; it overrides the fields below.")  # fmt: skip
    recent_lead = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="…or a recent lead")
    attributes = JSONTextField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text='e.g. {"vertical": "insurance"}')

    # The lead's fields are text inputs built from LeadIn (the one lead normaliser): each accepts
    # what the API accepts ("United States", "USA", "Bayern", "hot", "52000.50") and the view
    # validates them with clean_lead, whose errors land on these fields.
    INPUT_FIELDS = ("source", "country", "state", "postal_code", "language", "product_line", "value", "currency",
                   "fit_score", "account_tier", "intent", "company")  # fmt: skip

    def __init__(self, *args: Any, recent: list[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recent_lead"].choices = [("", "—")] + list(recent)
        spec = lead_input_fields()
        attributes = self.fields.pop("attributes")
        for name in self.INPUT_FIELDS:
            self.fields[name] = forms.CharField(
                required=False, max_length=spec[name]["max_length"] or 100, label=FIELD_LABELS[name],
                help_text=spec[name]["description"].replace("`", ""),
            )  # fmt: skip
        self.fields["source"].initial = "console"
        self.fields["attributes"] = attributes

    def lead_fields(self) -> dict[str, Any]:
        """The lead typed into the fields (blank ones left out), for clean_lead (after is_valid)."""
        return {name: self.cleaned_data[name] for name in (*self.INPUT_FIELDS, "attributes")
                if self.cleaned_data.get(name) not in (None, "", {})}  # fmt: skip

    def clean_lead_json(self) -> dict[str, Any] | None:
        text = self.cleaned_data["lead_json"].strip()
        if not text:
            return None
        data = parse_json_text(text)
        if not isinstance(data, dict):
            raise forms.ValidationError("Paste one lead: a JSON object.")
        return data

    def clean_attributes(self) -> dict[str, Any]:
        value = self.cleaned_data["attributes"]
        if not isinstance(value, dict):
            raise forms.ValidationError("Attributes are a JSON object.")
        return value


class ConfigUploadForm(forms.Form):
    file = forms.FileField(label="Configuration JSON")

    def clean_file(self) -> dict[str, Any]:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CONFIG_BYTES:
            raise forms.ValidationError("The file is larger than 5 MB.")
        try:
            data = schema.load_json(upload.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.") from None
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        if not isinstance(data, dict):
            raise forms.ValidationError("The file must hold one JSON object (an export of this console).")
        if has_nul(data):
            raise forms.ValidationError(NUL_ERROR)
        return data


class ConfigConfirmForm(forms.Form):
    """The previewed document, posted back by the confirm button (a hidden field anyone can edit)."""

    payload = forms.CharField(required=False, strip=False, error_messages={"required": "The previewed file was lost; upload it again."})

    def clean_payload(self) -> dict[str, Any]:
        data = parse_json_text(self.cleaned_data["payload"].strip() or "null", max_bytes=MAX_CONFIG_BYTES)
        if not isinstance(data, dict):
            raise forms.ValidationError("The previewed file was lost; upload it again.")
        return data


class ObjectSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, strip=True)


class PublishForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, widget=forms.TextInput(attrs={"placeholder": "What changed and why"}))
