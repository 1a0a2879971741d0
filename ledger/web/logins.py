"""Failed logins per client address, so that nobody can guess a token by trying many.

An address may fail `limits.LOGIN_FAILURES_MAX` times in a window of
`limits.LOGIN_WINDOW_SECONDS` opened by its first failure (a fixed window). Past that,
`POST /pages/login` answers 429 with Retry-After until the window closes, and checks no token
at all, a correct one included. A successful login resets nothing, neither its own address's
count (a client holding any valid token could otherwise clear it between guesses at another
token) nor anyone else's.

The address is the TCP peer's (`request.client.host`): the service has no trusted-proxy
setting (uvicorn runs with `proxy_headers=False`), so `X-Forwarded-For` is not read, and behind
a reverse proxy every client shares the proxy's address and its count.

The counts live in the process's memory: with several workers each keeps its own (an address
may fail up to the limit times the workers per window), and a restart forgets them. At most
`limits.LOGIN_ADDRESSES_MAX` addresses are tracked; a new one pushes out the one whose window
opened first. Time is a monotonic clock in seconds (a step of the wall clock must not lengthen
or end a block), passed in so that tests move it instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ledger.http import limits

Seconds = Callable[[], float]


@dataclass(slots=True)
class _Window:
    opened: float
    failures: int


class FailedLogins:
    """The open windows by address, oldest first (windows open in clock order)."""

    def __init__(self, clock: Seconds = time.monotonic,
                 addresses_max: int = limits.LOGIN_ADDRESSES_MAX) -> None:
        assert addresses_max >= 1
        self.clock = clock
        self.addresses_max = addresses_max
        self.windows: OrderedDict[str, _Window] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until `address` may try again; None when it may try now."""
        now = self._forget_closed()
        window = self.windows.get(address)
        if window is None or window.failures < limits.LOGIN_FAILURES_MAX:
            return None
        return max(1, math.ceil(window.opened + limits.LOGIN_WINDOW_SECONDS - now))

    def failed(self, address: str) -> None:
        now = self._forget_closed()
        window = self.windows.get(address)
        if window is None:
            if len(self.windows) >= self.addresses_max:
                self.windows.popitem(last=False)
            window = self.windows[address] = _Window(now, 0)
        window.failures += 1

    def _forget_closed(self) -> float:
        now = self.clock()
        while self.windows:
            oldest = next(iter(self.windows.values()))
            if now - oldest.opened < limits.LOGIN_WINDOW_SECONDS:
                break
            self.windows.popitem(last=False)
        return now
