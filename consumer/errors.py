"""The consumer's errors: one base, a few kinds, each message one sentence a user can act on."""


class ConsumerError(Exception):
    """A problem the consumer reports and stops on; its message is shown as is."""


class ConfigError(ConsumerError):
    """An option, environment variable or Kafka client setting is invalid."""


class KafkaClientError(ConsumerError):
    """The Kafka client hit an error it cannot recover from."""


class FencedError(KafkaClientError):
    """A newer instance with the same transactional.id fenced this one: it must stop."""


class DeliveryError(ConsumerError):
    """Records were not acknowledged by the broker, so their input offsets stay uncommitted."""


class ProduceRefused(DeliveryError):
    """The producer refused a record outright (not a full queue): its batch cannot go on."""


class InvalidMessageError(ConsumerError):
    """One input message cannot be scored; it goes to the dead-letter topic with `reason`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
