"""Queue order and holding-pool backoff: pure arithmetic, no clock (``now`` is an argument).

Queue order. Pending leads, and held leads that are due a retry, are taken in ascending
``queue_at`` (then id), where

    queue_at = received_at
               + min(segment_priority, 1000) x 10 min        (priority: lower is more urgent)
               - 5 min                                        (if the rule flags it high value)
               - 4 min x min(1, log10(1 + value) / 7)        (value, log-scaled, full at 10^7)

Among leads received together this is exactly segment priority, then high value first, then
higher value first, then age: one priority point (10 min) outweighs the high-value head start
plus the largest value head start (5 + 4 min). Across time, age is the boost: a lead is taken
before every lead received more than its head start after it, so nothing waits forever behind a
stream of more urgent leads (a priority-100 lead overtakes priority-90 leads arriving 100 minutes
after it; a normal lead overtakes high-value leads of its segment arriving 5 minutes after it).
The key is a plain column, so the queue is one index scan.

Backoff. A held lead whose retry changed nothing waits ``retry_delay(attempts)`` before the
timer tries it again: BACKOFF_BASE x 2^(attempts - 1), capped at BACKOFF_MAX. Events that could
change its outcome (capacity freed, a rep back, a publish) make it due at once instead.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

SECONDS_PER_PRIORITY = 600
PRIORITY_CAP = 1000  # priorities above count as 1000 (a week of head start at most)
HIGH_VALUE_HEAD_START = 300  # seconds
VALUE_HEAD_START = 240  # seconds at most, for the lead's value
VALUE_DECADES = 7  # value 10^7 (ten million) and above earns the whole value head start

BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(minutes=30)


def value_head_start(value: Decimal | float | int | None) -> float:
    """Seconds of head start for ``value`` (>= 0; negative or missing counts as 0): log-scaled."""
    amount = float(value or 0)
    if amount <= 0 or math.isnan(amount):
        return 0.0
    return VALUE_HEAD_START * min(1.0, math.log10(1.0 + amount) / VALUE_DECADES)


def queue_at(*, received_at: dt.datetime, segment_priority: int, high_value: bool,
             value: Decimal | float | int | None) -> dt.datetime:  # fmt: skip
    """The lead's place in the queue (see the module docstring). ``segment_priority`` >= 0."""
    offset = (
        min(max(segment_priority, 0), PRIORITY_CAP) * SECONDS_PER_PRIORITY
        - (HIGH_VALUE_HEAD_START if high_value else 0)
        - value_head_start(value)
    )
    return received_at + dt.timedelta(seconds=offset)


def retry_delay(attempts: int) -> dt.timedelta:
    """Wait before the timer retries a held lead after ``attempts`` (>= 1) unchanged retries."""
    exponent = max(attempts - 1, 0)
    if exponent >= 20:
        return BACKOFF_MAX
    return min(BACKOFF_BASE * (2**exponent), BACKOFF_MAX)
