"""Publishing on behalf of one job: producer, job id and backend bound once, events confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from contracts.events import Event, JobFailed, Stage

E = TypeVar("E", bound=Event)


class EventPublisher(Protocol):
    """What publishing needs: ``Publisher`` (broker, confirmed) or a recording fake in tests."""

    def publish(self, event: Event, headers: dict[str, Any] | None = None) -> None: ...


@dataclass(frozen=True)
class JobEvents:
    """Publishes the events of one job as one producer.

    ``publish`` raises ``PublishFailed`` when the broker does not confirm, so a caller never
    reports success for an event that may not exist.
    """

    publisher: EventPublisher
    producer: str
    job_id: str
    backend: str

    def publish(self, cls: type[E], **fields: Any) -> E:
        """Build a ``cls`` event of this job (fields validated by the contract) and publish it."""
        event = cls.create(self.producer, job_id=self.job_id, backend=self.backend, **fields)
        self.publisher.publish(event)
        return event

    def fail(self, stage: Stage, reason: str) -> JobFailed:
        """The job cannot complete: publish ``JobFailed`` with the stage and the user's reason."""
        return self.publish(JobFailed, stage=stage, reason=reason)


@dataclass(frozen=True)
class HandlerContext(JobEvents):
    """What a handler gets besides its event: publishing bound to the event's job, and how the
    message arrived."""

    routing_key: str = ""
    redelivered: bool = False
    attempt: int = 0

    @classmethod
    def of(cls, event: Event, publisher: EventPublisher, producer: str, *,
           routing_key: str = "", redelivered: bool = False, attempt: int = 0) -> HandlerContext:
        return cls(publisher, producer, event.job_id, event.backend, routing_key=routing_key,
                   redelivered=redelivered, attempt=attempt)
