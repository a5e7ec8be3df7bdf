"""The exceptions a handler raises to tell the consumer what to do with a message."""


class HandlerError(Exception):
    """Base of the errors that decide a message's fate."""


class TransientError(HandlerError):
    """Worth retrying later (a full disk, a peer that is down): retried with capped backoff."""


class PermanentError(HandlerError):
    """Retrying cannot help (a bad message, an unknown job): straight to the dead-letter queue."""


class PublishFailed(Exception):
    """A publish was not confirmed by the broker (nacked, unroutable, or the broker is away)."""
