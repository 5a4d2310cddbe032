"""A development email backend that logs one line per email (recipients and subject), never the
body: the console backend printed whole emails into the `make run` terminal."""

from __future__ import annotations

import logging

from django.core.mail.backends.base import BaseEmailBackend

log = logging.getLogger("leadops.mail")


class OneLineConsoleBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:  # noqa: ANN001
        for message in email_messages:
            log.info("email to %s: %s", ", ".join(message.to), message.subject,
                     extra={"event": "email.sent", "to": list(message.to), "subject": message.subject})  # fmt: skip
        return len(email_messages)
