"""Presentation filters shared by the pages: shares as percentages, durations, countdowns."""

from __future__ import annotations

from django import template

from routing import labels

register = template.Library()

# Routing codes in words (routing/labels.py); pages keep the raw code in a title attribute.
register.filter("step_label", labels.step_label)
register.filter("outcome_label", labels.outcome_label)
register.filter("decision_kind_label", labels.decision_kind_label)
register.filter("strategy_label", labels.strategy_label)
register.filter("criteria_text", labels.criteria_text)
register.filter("conditions_text", labels.conditions_text)
register.filter("condition_text", labels.condition_text)
register.filter("field_label", labels.field_label)
register.filter("reason_label", labels.reason_label)
register.filter("yes_no", labels.yes_no)
register.filter("fallback_text", labels.fallback_text)
register.filter("source_label", labels.source_label)
register.filter("score_meaning", labels.score_meaning)


@register.simple_tag
def glossary_words() -> dict[str, object]:
    """Words of the score/credit glossary (templates/routing/_glossary.html)."""
    return {"score_meanings": list(labels.SCORE_MEANINGS.items()), "credit_meaning": labels.CREDIT_MEANING,
            "tie_break": labels.TIE_BREAK}


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """A share as a fraction (0.304) shown as a percentage ("30.4%")."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as "45 s", "12 min 05 s" or "2 h 05 min"."""
    if seconds is None or seconds == "":
        return "–"
    total = max(0, round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
