"""Lead-to-account matching (routing.matching): a table of inputs and the account each must find."""

from __future__ import annotations

import pytest

from routing.engine.types import MatchMethod
from routing.matching import AccountIndex, AccountRecord, host_of, is_free_mail, normalise_name

ACCOUNTS = [
    AccountRecord(1, "Acme Corp", ("acme.com", "acme.co.uk")),
    AccountRecord(2, "Müller Maschinenbau GmbH", ("mueller-maschinen.de",)),
    AccountRecord(3, "Globex International Ltd", ()),
    AccountRecord(4, "Société Générale S.A.", ("https://www.socgen.fr/en",)),
    AccountRecord(5, "Initech, Inc.", ("eu.initech.io",)),
    AccountRecord(6, "Umbrella Pharmaceuticals LLC", ()),
]


@pytest.fixture(scope="module")
def index() -> AccountIndex:
    return AccountIndex(ACCOUNTS, fuzzy_threshold=90)


@pytest.mark.parametrize(
    ("lead", "account_id", "method", "evidence"),
    [
        # exact domain, by email then by website
        ({"email": "ana@acme.com"}, 1, MatchMethod.EMAIL_DOMAIN, "acme.com"),
        ({"email": "ANA@ACME.COM"}, 1, MatchMethod.EMAIL_DOMAIN, "acme.com"),
        ({"email": "ana@acme.co.uk"}, 1, MatchMethod.EMAIL_DOMAIN, "acme.co.uk"),
        ({"website": "acme.com"}, 1, MatchMethod.WEBSITE_DOMAIN, "acme.com"),
        ({"website": "https://www.socgen.fr/fr/contact"}, 4, MatchMethod.WEBSITE_DOMAIN, "socgen.fr"),
        # subdomains match their parent, down to the registrable domain
        ({"email": "bob@eu.sales.acme.com"}, 1, MatchMethod.EMAIL_DOMAIN, "acme.com"),
        ({"website": "https://shop.acme.co.uk:8443/basket"}, 1, MatchMethod.WEBSITE_DOMAIN, "acme.co.uk"),
        ({"email": "x@eu.initech.io"}, 5, MatchMethod.EMAIL_DOMAIN, "eu.initech.io"),
        ({"email": "x@de.eu.initech.io"}, 5, MatchMethod.EMAIL_DOMAIN, "eu.initech.io"),
        # email beats website beats name
        ({"email": "ana@acme.com", "website": "socgen.fr", "company": "Globex"}, 1, MatchMethod.EMAIL_DOMAIN, "acme.com"),
        ({"email": "ana@unknown.org", "website": "socgen.fr"}, 4, MatchMethod.WEBSITE_DOMAIN, "socgen.fr"),
        # free mail is ignored: the company name decides
        ({"email": "ana@gmail.com", "company": "Acme"}, 1, MatchMethod.NAME, "Acme"),
        ({"email": "ana@yahoo.co.uk", "company": "ACME CORPORATION"}, 1, MatchMethod.NAME, "ACME CORPORATION"),
        ({"email": "ana@gmx.de", "website": "https://www.socgen.fr"}, 4, MatchMethod.WEBSITE_DOMAIN, "socgen.fr"),
        # legal suffixes, punctuation, case and accents
        ({"company": "Acme, Inc."}, 1, MatchMethod.NAME, "Acme, Inc."),
        ({"company": "acme ltd"}, 1, MatchMethod.NAME, "acme ltd"),
        ({"company": "Globex International"}, 3, MatchMethod.NAME, "Globex International"),
        ({"company": "GLOBEX INTERNATIONAL LIMITED"}, 3, MatchMethod.NAME, "GLOBEX INTERNATIONAL LIMITED"),
        ({"company": "Societe Generale"}, 4, MatchMethod.NAME, "Societe Generale"),
        ({"company": "société générale sa"}, 4, MatchMethod.NAME, "société générale sa"),
        ({"company": "Muller Maschinenbau"}, 2, MatchMethod.NAME, "Muller Maschinenbau"),
        ({"company": "Initech"}, 5, MatchMethod.NAME, "Initech"),
        # fuzzy, above the threshold
        ({"company": "Globex Internationl"}, 3, MatchMethod.FUZZY_NAME, "Globex Internationl"),
        ({"company": "Umbrela Pharmaceuticals"}, 6, MatchMethod.FUZZY_NAME, "Umbrela Pharmaceuticals"),
    ],
)
def test_it_matches_the_account_by_the_strongest_evidence(index: AccountIndex, lead: dict, account_id: int,
                                                           method: MatchMethod, evidence: str) -> None:  # fmt: skip
    found = index.match(**lead)
    assert found is not None, lead
    assert (found.account_id, found.method, found.evidence) == (account_id, method, evidence)
    assert found.score == 100.0 if method is not MatchMethod.FUZZY_NAME else 90 <= found.score < 100


@pytest.mark.parametrize(
    "lead",
    [
        {"email": "ana@gmail.com"},  # free mail, no company
        {"email": "ana@hotmail.com", "company": "Someone Else Ltd"},
        {"website": "https://www.gmail.com"},  # a free-mail domain as a website means nothing
        {"email": "x@co.uk"},  # a public suffix alone is nobody's domain
        {"email": "x@notacme.com"},  # a different registrable domain that merely ends the same
        {"email": "x@acme.com.evil.org"},
        {"company": "Inc."},  # only a legal suffix
        {"company": "Globx"},  # too different
        {"company": "Pharmaceuticals"},  # shares a word, far below the threshold
        {"company": ""},
        {},
    ],
)
def test_it_finds_no_account_without_real_evidence(index: AccountIndex, lead: dict) -> None:
    assert index.match(**lead) is None


@pytest.mark.parametrize(
    ("company", "threshold", "matched"),
    [
        ("Globex Internationl", 97, True),  # 97.4% similar
        ("Globex Internationl", 98, False),
        ("Umbrela Pharmaceuticals", 97, True),  # 97.8%
        ("Umbrela Pharmaceuticals", 98, False),
        ("Globex Intl", 70, True),
        ("Globex Intl", 90, False),
    ],
)
def test_the_fuzzy_threshold_decides_on_both_sides(company: str, threshold: float, matched: bool) -> None:
    found = AccountIndex(ACCOUNTS, fuzzy_threshold=threshold).match(company=company)
    assert (found is not None) is matched
    if matched:
        assert found.method is MatchMethod.FUZZY_NAME and found.score >= threshold


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Acme Corp.", "acme"),
        ("ACME, Inc.", "acme"),
        ("Acme Holdings Ltd. Inc", "acme holdings"),
        ("Müller GmbH", "muller"),
        ("Société Générale S.A.", "societe generale"),
        ("AT&T Inc.", "at and t"),
        ("  o'Reilly   Media, LLC ", "o reilly media"),
        ("GmbH", "gmbh"),  # only a suffix: kept rather than emptied
        ("", ""),
    ],
)
def test_company_names_are_normalised(name: str, normalised: str) -> None:
    assert normalise_name(name) == normalised


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("Ana@Sales.ACME.com", "sales.acme.com"),
        ("https://www.acme.com:443/x?y", "acme.com"),
        ("acme.com.", "acme.com"),
        ("not a domain", ""),
        ("", ""),
    ],
)
def test_hosts_are_read_from_emails_urls_and_bare_domains(text: str, host: str) -> None:
    assert host_of(text) == host


def test_the_free_mail_list_is_the_maintained_package_and_covers_subdomains() -> None:
    assert is_free_mail("gmail.com") and is_free_mail("yahoo.co.uk") and is_free_mail("mail.yahoo.co.uk")
    assert not is_free_mail("acme.com")


def test_two_accounts_with_the_same_name_resolve_to_the_lower_id() -> None:
    index = AccountIndex([AccountRecord(9, "Acme GmbH"), AccountRecord(3, "ACME Ltd")])
    assert index.match(company="Acme").account_id == 3


def test_fuzzy_candidates_come_from_shared_words_or_prefixes_only() -> None:
    index = AccountIndex([AccountRecord(i, f"Company {i:05d} Widgets") for i in range(1, 2000)]
                         + [AccountRecord(5000, "Zebra Logistics")])  # fmt: skip
    assert index.candidates(normalise_name("Zebre Logistic")) == [5000]  # the 1,999 "company ..." are never scored
    assert index.match(company="Zebra Logistic").account_id == 5000


def test_an_index_kept_current_by_upserts_and_removals_matches_like_a_fresh_one() -> None:
    index = AccountIndex(ACCOUNTS)
    index.upsert(AccountRecord(1, "Acme Anvils", ("anvils.example",)))  # renamed, domains replaced
    index.remove(3)
    index.upsert(AccountRecord(7, "Globex International", ("globex.com",), key="globex international"))
    fresh = AccountIndex([AccountRecord(1, "Acme Anvils", ("anvils.example",)), *ACCOUNTS[1:2], *ACCOUNTS[3:],
                          AccountRecord(7, "Globex International", ("globex.com",))])  # fmt: skip
    for lead in ({"email": "x@acme.com"}, {"email": "x@anvils.example"}, {"company": "Acme"},
                 {"company": "Acme Anvils Ltd"}, {"company": "Globex Internationl"}, {"email": "x@globex.com"}):
        assert index.match(**lead) == fresh.match(**lead), lead
    assert index.match(email="x@acme.com") is None and index.match(company="Globex International").account_id == 7
    assert len(index) == len(fresh) == 6


def test_a_domain_under_no_known_public_suffix_matches_only_exactly() -> None:
    index = AccountIndex([AccountRecord(1, "Intranet Co", ("acme.internal",))])
    assert index.match(email="x@acme.internal").account_id == 1
    assert index.match(email="x@eu.acme.internal") is None  # its parent is unknown: no subdomain rule
