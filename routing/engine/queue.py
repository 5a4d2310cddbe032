"""Queue order and holding-pool backoff: pure arithmetic, no clock (``now`` is an argument).

Queue order. Pending leads, and held leads that are due a retry, are taken in ascending
``queue_at`` (then id), where

    queue_at = received_at
               + segment_priority x SECONDS_PER_PRIORITY      (priority: lower is more urgent)
               - HIGH_VALUE_HEAD_START                        (if the rule flags it high value)
               - VALUE_HEAD_START x min(1, log10(1 + value) / VALUE_DECADES)

Among leads received at the same moment this is exactly (segment priority, high value first,
higher value first, then age): one priority point (60 s) outweighs the high-value head start
plus the largest value head start (40 s + 19 s). Across time, age is the boost: a lead is taken
before every lead received more than ``max_head_start(its priority)`` after it, so nothing waits
forever behind a stream of more urgent leads (a priority-100 lead overtakes priority-10 leads
that arrive 90 minutes after it). The key is a plain column, so the queue is one index scan.

Backoff. A held lead whose retry changed nothing waits ``retry_delay(attempts)`` before the
timer tries it again: BACKOFF_BASE x 2^(attempts - 1), capped at BACKOFF_MAX. Events that could
change its outcome (capacity freed, a rep back, a publish) make it due at once instead.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

SECONDS_PER_PRIORITY = 60
HIGH_VALUE_HEAD_START = 40  # seconds
VALUE_HEAD_START = 19  # seconds at most, for the lead's value
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
        max(segment_priority, 0) * SECONDS_PER_PRIORITY
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
