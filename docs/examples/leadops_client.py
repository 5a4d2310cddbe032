"""A short LeadOps API client: standard library only, copy it into your integration.

    client = LeadOpsClient("https://leads.example.com", token="lo_...")
    lead = client.send_lead({"source": "web", "external_id": "F-1", "email": "ada@example.com"})
    for lead in client.leads(status="offered"):
        print(lead["id"], lead["owner"])

Errors come back as RFC 9457 problem details; ``LeadOpsError.errors`` names each field.
The full description: GET /api/v1/openapi.json, browsable at /api/v1/docs.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterator


class LeadOpsError(Exception):
    """A refused request: ``status`` (HTTP), ``detail`` (a sentence) and ``errors``
    (``{field or JSON path: [message, ...]}``) from the problem details."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status, self.problem = status, problem
        self.detail = problem.get("detail", "")
        self.errors: dict[str, list[str]] = problem.get("errors") or {}
        super().__init__(f"{status}: {self.detail} {self.errors}")


class LeadOpsClient:
    def __init__(self, base_url: str, *, token: str, timeout: float = 10.0) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.token, self.timeout = token, timeout

    def request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One call; returns the decoded JSON, raises LeadOpsError on a 4xx/5xx."""
        params = {k: v for k, v in query.items() if v is not None}
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (your URL)
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                problem = json.loads(exc.read())
            except ValueError:
                problem = {"detail": exc.reason}
            raise LeadOpsError(exc.code, problem) from None

    def pages(self, path: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list, following ``next_cursor`` page by page."""
        cursor = None
        while True:
            page = self.request("GET", path, cursor=cursor, **filters)
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    # Leads (scopes: intake to send, read to read)
    def send_lead(self, lead: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/leads", lead)

    def leads(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.pages("/leads", **filters)

    def lead(self, lead_id: int) -> dict[str, Any]:
        """The lead with every offer and every decision (candidates and reasons)."""
        return self.request("GET", f"/leads/{lead_id}")

    def decisions(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.pages("/decisions", **filters)

    def first_touch(self, lead_id: int, channel: str = "call") -> dict[str, Any]:
        return self.request("POST", f"/leads/{lead_id}/first-touch", {"channel": channel})

    # A rep's own offers (scope offers, a personal token)
    def my_offers(self, status: str | None = "open") -> Iterator[dict[str, Any]]:
        return self.pages("/offers", status=status)

    def accept(self, offer_id: int) -> dict[str, Any]:
        return self.request("POST", f"/offers/{offer_id}/accept", {})

    def decline(self, offer_id: int, reason: str, note: str = "") -> dict[str, Any]:
        return self.request("POST", f"/offers/{offer_id}/decline", {"reason": reason, "note": note})

    # Configuration as code (scope config)
    def export_config(self) -> dict[str, Any]:
        return self.request("GET", "/config")

    def import_config(self, document: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        return self.request("POST", "/config/import", document, dry_run="true" if dry_run else None)

    def publish(self, note: str = "") -> dict[str, Any]:
        return self.request("POST", "/config/publish", {"note": note})
