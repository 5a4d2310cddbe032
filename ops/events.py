"""One structured log line per operational event routing reports: each routing batch, each
escalation, expiry, withdrawal and quarantine.

Registered with ``routing.services.listen`` in ``OpsConfig.ready``: it runs after the routing
transaction commits, so a logged event really happened, and routing's code needs no log calls.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("leadops.events")

# event name -> (level, message); payload keys are logged as fields.
_LOGGED = {
    "offer.expired": (logging.INFO, "offer expired unanswered: lead %(lead_id)s, rep %(rep_id)s"),
    "offer.withdrawn": (logging.INFO, "offer withdrawn: lead %(lead_id)s, rep %(rep_id)s"),
    "lead.quarantined": (logging.WARNING, "lead %(lead_id)s quarantined"),
}


_DECIDED = ("offer.created", "lead.holding")  # one of these per lead a routing batch decided


def log_routing_events(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Routing hands each committed batch of events to its listeners in one call, so a batch
    that decided leads gets one ``routing.batch`` line, then a line per notable event."""
    decided = [(event, payload) for event, payload in events if event in _DECIDED]
    if decided:
        offered = sum(1 for event, _ in decided if event == "offer.created")
        log.info("routing batch: %d leads, %d offered, %d to holding", len(decided), offered, len(decided) - offered,
                 extra={"event": "routing.batch", "leads": len(decided), "offered": offered, "holding": len(decided) - offered,
                        "escalations": sum(1 for _, p in decided if p.get("escalation")),
                        "lead_ids": [p.get("lead_id") for _, p in decided]})  # fmt: skip
    for event, payload in events:
        fields = {k: v for k, v in payload.items() if isinstance(v, (int, str, bool, float, type(None)))}
        if payload.get("escalation"):
            where = f"rep {payload.get('rep_id')}" if event == "offer.created" else "the holding pool"
            log.info("escalation: lead %s went to %s", payload.get("lead_id"), where,
                     extra={**fields, "event": "lead.escalated", "to": event})  # fmt: skip
        elif event in _LOGGED:
            level, message = _LOGGED[event]
            log.log(level, message, {k: payload.get(k) for k in ("lead_id", "rep_id")} | fields,
                    extra={**fields, "event": event})  # fmt: skip
