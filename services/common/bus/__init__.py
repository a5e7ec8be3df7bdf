"""The pika bus runtime: confirmed publishing, one consumer loop with typed routes and hooks."""

from services.common.bus.consumer import Consumer
from services.common.bus.context import HandlerContext, JobEvents
from services.common.bus.errors import PermanentError, PublishFailed, TransientError
from services.common.bus.publisher import AsyncPublisher, Publisher
from services.common.bus.routes import Route

__all__ = [
    "AsyncPublisher", "Consumer", "HandlerContext", "JobEvents", "PermanentError",
    "PublishFailed", "Publisher", "Route", "TransientError",
]
