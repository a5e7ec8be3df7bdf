"""The pika bus runtime: confirmed publishing, a consumer loop with dead-lettering and retries."""

from services.common.bus.consumer import Consumer, MessageContext, Route
from services.common.bus.errors import PermanentError, PublishFailed, TransientError
from services.common.bus.publisher import AsyncPublisher, Publisher

__all__ = [
    "AsyncPublisher", "Consumer", "MessageContext", "PermanentError", "PublishFailed",
    "Publisher", "Route", "TransientError",
]
