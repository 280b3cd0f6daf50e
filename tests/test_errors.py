"""What the exceptions say (tier 1: no loop)."""

from __future__ import annotations

from wsclient import RetriesExhausted
from wsclient.disconnect import Disconnect, DisconnectKind


def test_retries_exhausted_counts_its_attempts_in_english() -> None:
    refused = Disconnect(kind=DisconnectKind.REFUSED, detail="connection refused")
    assert str(RetriesExhausted(1, refused)).startswith("gave up after 1 attempt; last: ")
    assert str(RetriesExhausted(3, refused)).startswith("gave up after 3 attempts; last: ")
    assert "connection refused" in str(RetriesExhausted(3, refused))
