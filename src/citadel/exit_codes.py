"""Exit codes a Citadel service uses to tell its supervisor why it stopped (restart it, or give up)."""

from __future__ import annotations

EXIT_SELF_TEST_FAILED = 3  # the engine's start-up self-test failed: restarting would fail the same way
EXIT_ENGINE_DIED = 4  # the engine thread died while serving: a restart may well recover
