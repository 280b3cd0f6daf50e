"""How long to wait before the next attempt: wait strategies as small values.

Pure: no I/O, no clock, no global randomness. A strategy turns "the n-th
time in a row this strategy is used" and an injected ``random.Random`` into a
delay; :class:`DecisionWait` is the tenacity wait that asks the failed
attempt's decision for its strategy. Counting repeats per strategy is what
keeps a 1012 restart (``Uniform``) from feeding the exponential curve. A
decision may also carry any tenacity wait (``wait_fixed(2)``); it is called
with tenacity's retry state.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Protocol

from tenacity import RetryCallState
from tenacity.wait import wait_base

__all__ = [
    "HOLD_OFF",
    "IMMEDIATE",
    "STANDARD",
    "DecisionWait",
    "Doubling",
    "Exponential",
    "Uniform",
    "WaitStrategy",
]

# 2**64 is past any cap anyone would set; it keeps the float from overflowing.
_MAX_EXPONENT = 64


class WaitStrategy(Protocol):
    """A rule for the delay before an attempt."""

    def delay(self, repeat: int, rng: Random) -> float:
        """The delay in seconds for the ``repeat``-th use in a row (1-based)."""
        ...


def _check(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class Exponential:
    """Standard backoff: truncated exponential with full jitter.

    The first delay is random in ``[0, first]`` (RFC 6455 §7.2.3 suggests 0-5 s),
    the n-th random in ``[0, min(cap, first * 2**(n-1))]``.
    """

    first: float = 5.0
    cap: float = 60.0

    def __post_init__(self) -> None:
        _check("first", self.first)
        _check("cap", self.cap)

    def delay(self, repeat: int, rng: Random) -> float:
        """Random in ``[0, min(cap, first * 2**(repeat-1))]``."""
        exponent = min(max(repeat, 1) - 1, _MAX_EXPONENT)
        return rng.uniform(0.0, min(self.cap, self.first * 2.0**exponent))


@dataclass(frozen=True, slots=True)
class Uniform:
    """A delay uniformly random in ``[low, high]``, the same on every repeat."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check("low", self.low)
        _check("high", self.high)
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")

    def delay(self, repeat: int, rng: Random) -> float:
        """Random in ``[low, high]``, whatever the repeat."""
        if self.low == self.high:
            return self.low
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True, slots=True)
class Doubling:
    """A hold-off: the first uniform in ``[low, high]``, doubling on each repeat,
    capped at ``cap``."""

    low: float = 30.0
    high: float = 120.0
    cap: float = 600.0

    def __post_init__(self) -> None:
        Uniform(self.low, self.high)  # the same checks
        _check("cap", self.cap)

    def delay(self, repeat: int, rng: Random) -> float:
        """Random in ``[low, high]`` times ``2**(repeat-1)``, at most ``cap``."""
        exponent = min(max(repeat, 1) - 1, _MAX_EXPONENT)
        return min(self.cap, rng.uniform(self.low, self.high) * 2.0**exponent)


STANDARD = Exponential()
HOLD_OFF = Doubling()
IMMEDIATE = Uniform(0.0, 0.0)


class DecisionWait(wait_base):
    """The tenacity wait of a reconnect loop.

    Asks ``strategy_of`` which strategy the failed attempt's decision chose and
    counts how often each strategy was used in this streak of failures. One
    instance serves one streak: a fresh one starts the curves over.
    """

    def __init__(
        self, rng: Random, strategy_of: Callable[[RetryCallState], WaitStrategy | wait_base]
    ) -> None:
        self._rng = rng
        self._strategy_of = strategy_of
        self._repeats: Counter[WaitStrategy] = Counter()

    def __call__(self, retry_state: RetryCallState) -> float:
        strategy = self._strategy_of(retry_state)
        if isinstance(strategy, wait_base):
            return float(strategy(retry_state))
        self._repeats[strategy] += 1
        return strategy.delay(self._repeats[strategy], self._rng)
