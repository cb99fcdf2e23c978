"""Run a transactional producer call as librdkafka classifies its errors, within a deadline.

A retriable error is retried every RETRY_WAIT_S for up to RETRY_FOR_S (a broker restarting),
or, for a call given `stuck_after`, until that many seconds have passed and the producer is
taken for stuck; an error that requires an abort, a fatal error and a fencing each raise their
own exception, so that exactly-once delivery can abort, replace the producer, or stop. A call
librdkafka may never return from runs in a thread that is given up on after its timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaException

from consumer.errors import KafkaClientError
from consumer.kafka import fatal_error, is_fenced, kafka_error
from consumer.logs import log_event

RETRY_WAIT_S = 0.5
STUCK_GRACE_S = 5.0  # beyond a call's own timeout, before the producer is taken for stuck
RETRY_FOR_S = 300.0  # how long retriable transaction errors are retried (a broker restarting)


class CallStuckError(Exception):
    """A transactional call did not return, or did not succeed, in time: its producer is stuck."""


class ProducerUnusableError(Exception):
    """A fatal error that is not a fencing: the producer must be replaced."""


class AbortNeededError(Exception):
    """The open transaction must be aborted (librdkafka's txn_requires_abort)."""


class TransactionCalls:
    """Run transactional calls, retrying what librdkafka says is retriable until a deadline.

    Parameters:
        monotonic: the clock the retry deadline is measured on.
        sleep: waits RETRY_WAIT_S between two tries.
    """

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.monotonic = monotonic
        self.sleep = sleep

    def run(
        self,
        name: str,
        call: Callable[[], object],
        retry: bool = True,
        stuck_after: float | None = None,
    ) -> None:
        """Run the call named `name` (for logs and errors) until it succeeds or must not be retried.

        Without `retry`, a retriable error asks for an abort instead. With `stuck_after`, a
        retriable error still coming back that many seconds after the first try means the
        producer will not recover by itself: librdkafka lets a timed-out commit or abort be
        resumed, but one whose client lost every broker (see ExactlyOnce) times out for good.

        Raises:
            FencedError: a newer producer with the same transactional.id fenced this one.
            ProducerUnusableError: another fatal error.
            AbortNeededError: the open transaction must be aborted.
            CallStuckError: a retriable error still coming back after `stuck_after` seconds.
            KafkaClientError: an error that is neither, or one still retriable after RETRY_FOR_S.
        """
        started = self.monotonic()
        deadline = started + RETRY_FOR_S
        while True:
            try:
                call()
                return
            except KafkaException as exc:
                error = kafka_error(exc)
                if error is None:
                    raise KafkaClientError(f"Kafka {name} failed: {exc}") from exc
                if error.fatal():
                    if is_fenced(error):
                        raise fatal_error(name, error) from exc
                    raise ProducerUnusableError(f"{name}: {error.str()}") from exc
                if error.txn_requires_abort() or (error.retriable() and not retry):
                    raise AbortNeededError(f"{name}: {error.str()}") from exc
                waited = self.monotonic() - started
                if error.retriable() and stuck_after is not None and waited > stuck_after:
                    reason = f"{name} still failing after {waited:.0f}s: {error.str()}"
                    raise CallStuckError(reason) from exc
                if not error.retriable() or self.monotonic() > deadline:
                    raise KafkaClientError(f"Kafka {name} failed: {error.str()}") from exc
                log_event("transaction_retry", logging.WARNING, call=name, reason=error.str())
                self.sleep(RETRY_WAIT_S)


def run_bounded(call: Callable[[], object], timeout: float) -> None:
    """Run a call that librdkafka may never return from, giving up after its `timeout`.

    send_offsets_to_transaction ignores its timeout when the group coordinator goes away
    (librdkafka issues 5456 and 5511): the call runs in a thread we can stop waiting for,
    STUCK_GRACE_S after the timeout it was given.

    Raises:
        CallStuckError: the call did not return in time.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="txn-call", daemon=True)
    thread.start()
    thread.join(timeout + STUCK_GRACE_S)
    if thread.is_alive():
        raise CallStuckError(f"a transactional call hung for over {timeout:g}s")
    if errors:
        raise errors[0]
