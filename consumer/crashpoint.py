"""A test-only switch that kills the consumer at a named phase of a batch, as a crash would.

`FRAUD_TEST_CRASH_POINT=after_produce:3` sends SIGKILL to the process the third time the loop
passes `after_produce`. Phases: after_consume, after_produce, before_commit, after_commit.
`after_produce:3:stop` sends SIGSTOP instead: the process freezes mid-batch, a zombie until a
SIGCONT.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

from consumer.errors import ConfigError

ENV = "FRAUD_TEST_CRASH_POINT"
PHASES = ("after_consume", "after_produce", "before_commit", "after_commit")


def crash_point(
    env: Mapping[str, str], kill: Callable[[], None] | None = None
) -> Callable[[str], None]:
    """Return the hook the loop calls at each phase: a no-op unless `ENV` names a phase.

    >>> hits = []
    >>> hook = crash_point({ENV: "before_commit:2"}, kill=lambda: hits.append("killed"))
    >>> for phase in ("after_consume", "before_commit", "before_commit"):
    ...     hook(phase)
    >>> hits
    ['killed']
    """
    spec = env.get(ENV, "")
    if not spec:
        return lambda _phase: None
    phase, _, rest = spec.partition(":")
    count, _, action = rest.partition(":")
    if phase not in PHASES or not (count or "1").isdigit() or action not in ("", "kill", "stop"):
        raise ConfigError(
            f"{ENV}={spec!r}: use PHASE[:N[:kill|stop]] with PHASE one of {', '.join(PHASES)}"
        )
    remaining = [int(count or "1")]
    sent = signal.SIGSTOP if action == "stop" else signal.SIGKILL
    die = kill or (lambda: os.kill(os.getpid(), sent))

    def hook(at: str) -> None:
        if at == phase:
            remaining[0] -= 1
            if remaining[0] == 0:
                die()

    return hook
