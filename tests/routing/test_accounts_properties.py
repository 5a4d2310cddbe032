"""Properties of account routing over random batches (no database): matching never hands a lead
to an inactive or absent owner, caps hold unless the owner step waives them, and no lead (nor
person) is assigned twice: duplicates are linked, every other lead is decided at most once."""

from __future__ import annotations

import datetime as dt
import types

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.accounts import link_duplicates
from routing.batch import BatchItem, BatchState, decide_batch
from routing.engine.accounts import with_account
from routing.engine.types import (
    AccountFacts,
    AccountMatch,
    FallbackStep,
    Interval,
    Outcome,
    StepKind,
    StickyHint,
)
from routing.matching import AccountIndex, AccountRecord
from routing.services import _count_offer
from tests.routing.engine.builders import NOW, by_id, config, lead, pool, rep, rule

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)

reps_strategy = st.lists(
    st.fixed_dictionaries({
        "active": st.booleans(), "absent": st.booleans(),
        "max_open": st.one_of(st.none(), st.integers(0, 2)),
    }),
    min_size=1, max_size=6,
)  # fmt: skip


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    reps = draw(reps_strategy)
    rep_ids = list(range(1, len(reps) + 1))
    n_accounts = draw(st.integers(1, 5))
    owners = [draw(st.one_of(st.none(), st.sampled_from(rep_ids))) for _ in range(n_accounts)]
    members = draw(st.lists(st.sampled_from(rep_ids), unique=True, max_size=len(rep_ids)))
    leads = draw(st.lists(
        st.tuples(st.integers(0, n_accounts), st.integers(0, 3), st.booleans(), st.one_of(st.none(), st.sampled_from(rep_ids))),
        min_size=1, max_size=12,
    ))  # fmt: skip
    open_people = draw(st.sets(st.integers(0, 3), max_size=2))
    return {"reps": reps, "owners": owners, "members": members, "leads": leads,
            "respect_caps": draw(st.booleans()), "open_people": open_people}  # fmt: skip


@PROPERTY_SETTINGS
@given(scenarios())
def test_matching_never_picks_an_unavailable_owner_and_never_assigns_a_lead_twice(case: dict) -> None:
    snapshots = [
        rep(i, active=spec["active"], max_open=spec["max_open"], working_hours={},
            absences=(Interval(NOW - dt.timedelta(hours=1), NOW + dt.timedelta(days=1)),) if spec["absent"] else ())
        for i, spec in enumerate(case["reps"], start=1)
    ]  # fmt: skip
    reps = by_id(*snapshots)
    accounts = {i: AccountFacts(id=i, name=f"Company {i}", owner_id=owner, status="customer")
                for i, owner in enumerate(case["owners"], start=1)}  # fmt: skip
    index = AccountIndex([AccountRecord(i, a.name, (f"co{i}.com",)) for i, a in accounts.items()])
    the_rule = rule(fallback=(FallbackStep(StepKind.ACCOUNT_OWNER, respect_caps=case["respect_caps"]),
                              FallbackStep(StepKind.HOLDING)))  # fmt: skip
    cfg = config(the_rule)

    rows, items_facts = [], {}
    for n, (account_no, person, free_mail, sticky_rep) in enumerate(case["leads"], start=1):
        domain = "gmail.com" if free_mail or account_no == 0 else f"co{account_no}.com"
        email = f"p{person}@{domain}"
        found = index.match(email=email, company=f"Company {account_no}" if account_no else "")
        match = AccountMatch(accounts[found.account_id], found.method, found.score, found.evidence) if found else None
        sticky = StickyHint(rep_id=sticky_rep, lead_id=999, basis="person") if sticky_rep else None
        items_facts[n] = with_account(lead(n, email=email), match=match, sticky=sticky)
        rows.append(types.SimpleNamespace(id=n, received_at=NOW + dt.timedelta(seconds=n), route_attempts=0, email=email))
    open_leads = {f"p{p}@gmail.com": types.SimpleNamespace(id=-p - 1) for p in case["open_people"]}
    duplicates = link_duplicates(rows, key_of=lambda row: row.email, open_leads=open_leads)

    state = BatchState(pools={10: pool(10, [(r, 1) for r in case["members"]])}, reps=dict(reps), loads={})
    items = [BatchItem(lead_id=row.id, facts=items_facts[row.id], config=cfg, now=NOW)
             for row in rows if row.id not in duplicates]  # fmt: skip
    results = decide_batch(items, state, count_offer=_count_offer)

    assert all(r.decision is not None for r in results), [r.error for r in results]
    decided = [r.item.lead_id for r in results]
    assert len(decided) == len(set(decided)) and not set(decided) & set(duplicates)  # nobody decided twice
    offered_people = [items_facts[r.item.lead_id].fields["email"] for r in results if r.chosen_rep_id is not None]
    assert len(offered_people) == len(set(offered_people))  # one person, one routed lead per batch
    assert not set(offered_people) & set(open_leads)  # a person with an open lead is linked, not offered
    for r in results:
        chosen = r.chosen_rep_id
        if chosen is None:
            continue
        assert reps[chosen].active and not reps[chosen].absences, (r.decision.summary, chosen)
        if r.decision.chosen_step is StepKind.ACCOUNT_OWNER:
            assert chosen == r.item.facts.account.account.owner_id
        assert r.decision.outcome is Outcome.OFFER
    if case["respect_caps"]:
        for rep_id, load in state.loads.items():
            cap = reps[rep_id].max_open
            assert cap is None or load.open_count <= cap
