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


class CountingBackend(EmailBackend):
    """The locmem backend, counting the connections made and opened (class-wide: reset in the
    test), and calling ``before_send(message)`` (when set) before each message it delivers."""

    made = 0
    opened = 0
    before_send = None

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        type(self).made += 1

    def open(self) -> bool:
        type(self).opened += 1
        return True

    def send_messages(self, messages):  # noqa: ANN001, ANN201
        for message in messages:
            if type(self).before_send is not None:
                type(self).before_send(message)
        return super().send_messages(messages)
