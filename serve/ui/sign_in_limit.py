"""How many wrong passwords /ui/login takes before it stops checking them for a while.

scrypt makes each guess cost the guesser ~50 ms of our CPU, which slows guessing but does not
bound it. Failed sign-ins are counted in a moving window per account name (a guesser with many
addresses still gets few tries at one account) and per client address (one address spraying
many names gets few tries in all). Past the limit the form answers 429 with ``Retry-After``
and runs no scrypt at all. A successful sign-in clears its name's count. Counts live in the
process's memory (the ``limits`` library): each worker process counts alone, and a restart
forgets them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from fastapi import FastAPI
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from classifier.settings import Settings


@dataclass
class SignInLimit:
    item: RateLimitItem
    limiter: MovingWindowRateLimiter = field(default_factory=lambda: MovingWindowRateLimiter(MemoryStorage()))

    @classmethod
    def of(cls, app: FastAPI, settings: Settings) -> SignInLimit:
        """The app's one limit, made on first use (no await in between: two requests cannot make two)."""
        limit = getattr(app.state, "ui_sign_in_limit", None)
        if limit is None:
            limit = cls(RateLimitItemPerSecond(settings.ui_login_failures, settings.ui_login_window_s))
            app.state.ui_sign_in_limit = limit
        return limit

    @staticmethod
    def _keys(name: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("name", name), ("address", address)

    def wait_s(self, name: str, address: str) -> int:
        """Whole seconds until ``name`` may be tried from ``address`` again; 0 when it may now."""
        wait = 0.0
        for key in self._keys(name, address):
            if not self.limiter.test(self.item, *key):
                reset = self.limiter.get_window_stats(self.item, *key).reset_time
                wait = max(wait, reset - time.time(), 1.0)
        return math.ceil(wait)

    def failed(self, name: str, address: str) -> None:
        for key in self._keys(name, address):
            self.limiter.hit(self.item, *key)

    def succeeded(self, name: str) -> None:
        self.limiter.clear(self.item, "name", name)
