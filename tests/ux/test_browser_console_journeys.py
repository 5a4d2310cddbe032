"""Sales Ops and managers through their journeys in Chromium, at 1366 px and at 390 px: the
document is never wider than the window and every action on each page can be scrolled to and
lies inside the window (a button cut off at the right edge is unreachable on a phone)."""

from __future__ import annotations

import pytest

from routing.models import RuleSet
from tests.ux.demo_world import PASSWORD, make_demo_world
from tests.ux.helpers import Probe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
STATES = {"desktop": ("FL", "GA"), "phone": ("OR", "WA")}  # a rule per run, neither shadowing the other

# Every visible control of the page; each is scrolled into view (its scrolling table too) and
# must then lie inside the window. Returns what does not.
UNREACHABLE = """() => {
  const out = [];
  const width = window.innerWidth;
  for (const el of document.querySelectorAll('main a[href], main button, main input:not([type=hidden]), main select, main summary')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;            // hidden (e.g. the other chart rendering)
    if (el.closest('details:not([open])') && el.tagName !== 'SUMMARY') continue;  // behind a closed disclosure
    el.scrollIntoView({block: 'center', inline: 'center'});
    const b = el.getBoundingClientRect();
    if (b.left < -1 || b.right > width + 1) out.push(`${el.tagName} "${(el.innerText || el.value || el.name || '').trim().slice(0, 40)}" at ${Math.round(b.left)}..${Math.round(b.right)}`);
  }
  window.scrollTo(0, 0);
  return out;
}"""


# The innermost elements that stick out of the window, to name in a failure.
STICKING_OUT = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1
          && ![...el.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 8).map(el => `${el.tagName}.${el.className} ${Math.round(el.getBoundingClientRect().right)}px: ${(el.innerText || '').slice(0, 50)}`)"""


def _check(page, where: str) -> None:  # noqa: ANN001
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{where}: the document is {overflow}px wider than the window: {page.evaluate(STICKING_OUT)}"
    assert page.evaluate(UNREACHABLE) == [], f"{where}: {page.evaluate(UNREACHABLE)}"


def _login(page, live_server, username: str, then: str) -> None:  # noqa: ANN001
    # Straight to ``then``: the demo manager is also a rep, and the inbox would hold a live stream open.
    page.goto(f"{live_server.url}/login/?next={then}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{then}")


def test_sales_ops_journey_fits_a_desktop_and_a_phone(live_server, browser) -> None:  # noqa: ANN001
    world = make_demo_world(leads=8)
    for label, viewport in WIDTHS.items():
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(30_000)
        page = context.new_page()
        probe = Probe().attach(page)
        _login(page, live_server, world.users["ops"], "/ops/rules/")
        url = live_server.url

        page.goto(f"{url}/ops/rules/")
        _check(page, f"{label} rules")
        assert "value is at least 50,000" in page.locator("#rule-table").inner_text()

        # A new rule: above the catch-all, conditions in words once saved.
        page.click("text=New rule")
        page.wait_for_url("**/ops/rules/new/")
        _check(page, f"{label} new rule")
        page.fill("input[name=name]", f"Florida {label}")
        page.click("button[value=add_condition]")
        page.locator("input[name=cond_field]").first.wait_for()
        page.locator("input[name=cond_field]").first.fill("state")
        page.locator("select[name=cond_op]").first.select_option("in")  # re-renders the row for a list
        page.locator("input[name=cond_value][placeholder='a, b, c']").wait_for()
        first, second = STATES[label]
        page.locator("input[name=cond_value]").first.fill(f"{first}, {second}")
        page.select_option("select[name=pool]", index=1)
        page.click("button[value=save]")
        try:
            page.wait_for_url("**/ops/rules/", timeout=10_000)
        except Exception:
            raise AssertionError(page.locator("#rule-form").inner_text()) from None
        row = page.locator("#rule-table tr", has_text=f"Florida {label}")
        assert f"state is {first} or {second}" in row.inner_text()
        assert "Never matches" not in row.inner_text()  # placed above the catch-all

        # Test a lead: every rule checked in order, with why not.
        page.goto(f"{url}/ops/test/")
        _check(page, f"{label} test a lead")
        page.fill("input[name=country]", "US")
        page.fill("input[name=state]", "TX")
        page.fill("input[name=value]", "900")
        page.click("text=Route this lead (dry run)")
        try:
            page.locator("#test-result .rule-checks").wait_for(timeout=10_000)
        except Exception:
            raise AssertionError(page.locator("#test-result").inner_text()) from None
        checks = page.locator("#test-result .rule-checks").inner_text()
        assert f"needs “state is {first} or {second}”, but the lead's state is TX" in checks
        _check(page, f"{label} test result")

        # The whole draft as a diff, then publish.
        page.goto(f"{url}/ops/versions/")
        _check(page, f"{label} versions")
        assert f"Florida {label}" in page.locator("#draft-diff").inner_text()
        before = RuleSet.objects.count()
        page.click("#publish-form button[type=submit]")
        page.locator("#draft-unchanged").wait_for()
        assert RuleSet.objects.count() == before + 1
        assert page.locator("#publish-form button[type=submit]").is_disabled()  # nothing left to publish

        # A rep: hours grid, lists and checkboxes, another licence row without saving.
        page.goto(f"{url}/ops/reps/")
        _check(page, f"{label} reps")
        page.locator("#object-table a").first.click()
        page.wait_for_url("**/ops/reps/*/")
        _check(page, f"{label} rep form")
        rows = page.locator("select[name$='-jurisdiction']").count()
        page.click("button[value='add_row:licence']")
        page.locator("select[name$='-jurisdiction']").nth(rows).wait_for()
        assert page.locator("input[type=checkbox][name=territories]").count() >= 1
        _check(page, f"{label} rep form with a new row")

        page.goto(f"{url}/ops/pools/")
        page.locator("#object-table a", has_text="Spanish").first.click()
        page.wait_for_url("**/ops/pools/*/")
        assert page.locator("#current-members li").count() >= 1
        _check(page, f"{label} pool form")
        assert probe.problems == [], probe.problems
        context.close()


def test_manager_journey_fits_a_desktop_and_a_phone(live_server, browser) -> None:  # noqa: ANN001
    world = make_demo_world(leads=10)
    for label, viewport in WIDTHS.items():
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(30_000)
        page = context.new_page()
        probe = Probe().attach(page)
        _login(page, live_server, world.users["manager"], "/dash/")
        url = live_server.url
        for path in ("/dash/", "/dash/equity/", "/dash/sla/", "/dash/capacity/", "/dash/decisions/"):
            page.goto(f"{url}{path}")
            _check(page, f"{label} {path}")
        page.goto(f"{url}/dash/equity/")
        chart = "svg.share-chart" if label == "desktop" else "svg.share-chart-phone"
        assert page.locator(chart).is_visible()

        page.goto(f"{url}/dash/decisions/")
        page.locator("#decision-table a[href^='/dash/leads/']").first.click()
        page.wait_for_url("**/dash/leads/*/")
        _check(page, f"{label} lead")
        assert page.locator(".rule-checks").first.is_visible()
        page.click("#glossary summary")
        assert "Credit (leads owed)" in page.locator("#glossary").inner_text()

        page.goto(f"{url}/dash/replay/{world.job_id}/")
        _check(page, f"{label} replay")
        assert page.locator("#replay-changes-title").is_visible()
        assert probe.problems == [], probe.problems
        context.close()
