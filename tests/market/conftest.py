"""Fixtures of the market tests (issue 8): a fresh exchange and a small world built through the services."""

from market_world import fresh_ex, world  # noqa: F401  (re-exported as fixtures)
