"""Constants shared by the demo generator's modules."""

from __future__ import annotations

SAMPLE_RATE = 16000
EMOTIONS = ("neutral", "happy", "angry", "sad")


class DemoError(ValueError):
    """A demo-corpus request that cannot be generated (bad session name, bad sentence list, bad cue)."""
