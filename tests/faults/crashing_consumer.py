"""A test entry point: the consumer's `run`, killed (or frozen) at a named phase of a batch.

    FRAUD_TEST_CRASH_POINT=after_produce:3 python tests/faults/crashing_consumer.py run [OPTIONS]

runs `python -m consumer run [OPTIONS]` and sends it SIGKILL the third time a batch passes
`after_produce`, as a crash would; `after_produce:3:stop` sends SIGSTOP instead: the process
freezes mid-batch, a zombie until a SIGCONT. The fault tests start it through
`ConsumerProcess(..., test_crash_point=SPEC)`.

The consumer knows nothing of this: the phases are observed from outside, by wrapping the
clients the service builds, the loop's `consume` and the checkpoints' `done`:

- after_consume: the loop got a non-empty batch;
- after_produce: a batch's records were all handed to the producer and the batch marked done;
- before_commit: right before the commit, after the flush under at-least-once (the consumer's
  offset commit) and after send_offsets under exactly-once (`commit_transaction`);
- after_commit: right after that commit succeeded.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# Run as a script, Python puts tests/faults first on the path: the consumer to wrap is this
# checkout's, as `python -m consumer` run from its root finds it, not an installed copy.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# First: the command line module limits BLAS threads before anything loads numpy.
from consumer import __main__ as cli  # noqa: E402

# isort: split
from confluent_kafka import KafkaException, Message  # noqa: E402

from consumer import service  # noqa: E402
from consumer.checkpoint import AtLeastOnce  # noqa: E402
from consumer.kafka import kafka_error  # noqa: E402
from consumer.loop import ScoringLoop  # noqa: E402
from consumer.transaction import ExactlyOnce  # noqa: E402

ENV = "FRAUD_TEST_CRASH_POINT"
PHASES = ("after_consume", "after_produce", "before_commit", "after_commit")
Hook = Callable[[str], None]
Patch = Callable[[object, str, Any], None]


def crash_point(env: Mapping[str, str], kill: Callable[[], None] | None = None) -> Hook:
    """Return the hook called at each phase: a no-op unless `ENV` names a phase.

    >>> hits = []
    >>> hook = crash_point({ENV: "before_commit:2"}, kill=lambda: hits.append("killed"))
    >>> for phase in ("after_consume", "before_commit", "before_commit", "before_commit"):
    ...     hook(phase)
    >>> hits
    ['killed']

    Raises:
        ValueError: the spec is not PHASE[:N[:kill|stop]].
    """
    spec = env.get(ENV, "")
    if not spec:
        return lambda _phase: None
    phase, _, rest = spec.partition(":")
    count, _, action = rest.partition(":")
    if phase not in PHASES or not (count or "1").isdigit() or action not in ("", "kill", "stop"):
        raise ValueError(
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


class CommitWatch:
    """A consumer that calls the hook around each offset commit (at-least-once commits so)."""

    def __init__(self, consumer: Any, hook: Hook):
        self._consumer = consumer
        self._hook = hook

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        self._hook("before_commit")
        committed = self._consumer.commit(*args, **kwargs)
        self._hook("after_commit")
        return committed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


class TransactionWatch:
    """A producer that calls the hook around each transaction commit (exactly-once's).

    A commit_transaction that failed with an error the checkpoint retries is the same commit
    when it is called again: its before_commit was already counted.
    """

    def __init__(self, producer: Any, hook: Hook):
        self._producer = producer
        self._hook = hook
        self._retrying = False

    def commit_transaction(self, *args: Any, **kwargs: Any) -> None:
        if not self._retrying:
            self._hook("before_commit")
        try:
            self._producer.commit_transaction(*args, **kwargs)
        except KafkaException as exc:
            error = kafka_error(exc)
            self._retrying = error is not None and (
                error.retriable() and not error.fatal() and not error.txn_requires_abort()
            )
            raise
        self._retrying = False
        self._hook("after_commit")

    def __len__(self) -> int:  # records not yet acknowledged: len() skips __getattr__
        return len(self._producer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)


def install(hook: Hook, patch: Patch = setattr) -> None:
    """Make the service call `hook(phase)` at each phase of a batch, wrapping it from outside.

    Parameters:
        hook: called with the name of each phase a batch passes (see the module's docstring).
        patch: sets an attribute; tests pass `monkeypatch.setattr`, which undoes it.
    """
    build_consumer, build_producer = service.build_consumer, service.build_producer
    patch(service, "build_consumer", lambda settings: CommitWatch(build_consumer(settings), hook))
    patch(
        service, "build_producer", lambda settings: TransactionWatch(build_producer(settings), hook)
    )
    consume = ScoringLoop.consume

    def consume_then_hook(loop: ScoringLoop) -> list[Message]:
        messages = consume(loop)
        if messages:
            hook("after_consume")
        return messages

    patch(ScoringLoop, "consume", consume_then_hook)
    for guarantee in (AtLeastOnce, ExactlyOnce):
        patch(guarantee, "done", _then(guarantee.done, hook, "after_produce"))


def _then(method: Callable[..., None], hook: Hook, phase: str) -> Callable[..., None]:
    def wrapped(*args: Any) -> None:
        method(*args)
        hook(phase)

    return wrapped


def main(argv: list[str], env: Mapping[str, str]) -> int:
    """Run the consumer's command line with the crash point of `env` installed."""
    try:
        hook = crash_point(env)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install(hook)
    return cli.main(argv, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
