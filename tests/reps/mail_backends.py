"""A stand-in for an SMTP server that refuses some recipients (the outside system, not our code).

Addresses containing "refuse" are refused the way smtplib reports it; everything else is
delivered to django.core.mail.outbox like the locmem backend.
"""

from __future__ import annotations

import smtplib

from django.core.mail.backends.locmem import EmailBackend


class RefusingBackend(EmailBackend):
    def send_messages(self, messages):  # noqa: ANN001, ANN201
        for message in messages:
            refused = {to: (550, b"mailbox unavailable") for to in message.recipients() if "refuse" in to}
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
        return super().send_messages(messages)
