"""The RabbitMQ topology: exchanges, routing keys and queues, named in this one place.

Every routing key is ``<subject>.<fact>.<backend>`` (``job.submitted.fermions``), so a spooler
per apparatus binds ``job.submitted.<its backend>`` and a lab tool that wants everything binds
``#``. Every work queue is a durable quorum queue named ``<service>.<handler>`` with a
dead-letter twin ``<queue>.dlq`` and a retry buffer ``<queue>.retry``. Dead-lettering is declared with the
queue (it is part of the structure: no work queue may exist without it); the ``delivery-limit``
against crash loops is a broker policy (``deploy/rabbitmq/definitions.json``) so operators can
tune it without a release. Each service writes its retries into its own retry exchange, bound
only to its own retry buffers; the broker moves messages into DLQs and out of retry buffers by
dead-lettering, which needs no user's permission, so no service user may write to the
dead-letter exchange or to the default exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: The one durable topic exchange every event is published to.
EXCHANGE: Final = "shotline.events"
#: Direct exchange that routes a rejected message to its queue's ``.dlq`` (key = queue name).
DEAD_LETTER_EXCHANGE: Final = "shotline.dlx"
#: Prefix of each service's direct exchange into its own retry buffers (key = buffer name).
RETRY_EXCHANGE_PREFIX: Final = "shotline.retry"
#: Default delivery limit applied by policy (RabbitMQ 3.10 has none; 4.x defaults to 20).
DELIVERY_LIMIT: Final = 5
#: Header carrying how many transient failures a message has already been through.
ATTEMPT_HEADER: Final = "x-shotline-attempt"


class RoutingKey:
    """Routing-key prefixes; the backend is appended as the last word."""

    JOB_SUBMITTED: Final = "job.submitted"
    JOB_SPOOLED: Final = "job.spooled"
    JOB_STATUS_CHANGED: Final = "job.status"
    JOB_DONE: Final = "job.done"
    JOB_FAILED: Final = "job.failed"
    JOB_CANCEL_REQUESTED: Final = "job.cancel_requested"
    JOB_CANCELLED: Final = "job.cancelled"
    SHOT_FINISHED: Final = "shot.finished"
    SHOT_ANALYSED: Final = "shot.analysed"
    SHOT_ARCHIVED: Final = "shot.archived"


def routing_key(prefix: str, backend: str) -> str:
    """The full routing key of an event of kind ``prefix`` for ``backend``."""
    if not backend or "." in backend or "*" in backend or "#" in backend:
        raise ValueError(f"backend name {backend!r} cannot be a routing-key word")
    return f"{prefix}.{backend}"


def retry_exchange(service: str) -> str:
    """The exchange through which ``service``, and only it, schedules its retries."""
    return f"{RETRY_EXCHANGE_PREFIX}.{service}"


def any_backend(prefix: str) -> str:
    """Binding pattern matching ``prefix`` for every backend."""
    return f"{prefix}.*"


@dataclass(frozen=True)
class QueueSpec:
    """A durable quorum work queue, its bindings and its dead-letter twin."""

    service: str
    handler: str
    bindings: tuple[str, ...]
    #: One consumer at a time (a standby waits): for the apparatus-bound spooler.
    single_active_consumer: bool = False
    description: str = ""
    #: Deliveries (failed or handed back) before the broker dead-letters a message.
    delivery_limit: int = DELIVERY_LIMIT
    arguments: dict[str, object] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        args: dict[str, object] = {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.dead_letter_queue,
            # at-least-once dead-lettering: a rejected message is never dropped on the way
            # to its DLQ (RabbitMQ >= 3.10; it requires reject-publish overflow).
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
        if self.single_active_consumer:
            args["x-single-active-consumer"] = True
        object.__setattr__(self, "arguments", args)

    @property
    def name(self) -> str:
        return f"{self.service}.{self.handler}"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dlq"

    @property
    def retry_queue(self) -> str:
        """Delay buffer for transient failures; expired messages go back to the work queue."""
        return f"{self.name}.retry"

    @property
    def retry_exchange(self) -> str:
        """Where this queue's consumer publishes a retry, keyed by ``retry_queue``."""
        return retry_exchange(self.service)

    @property
    def retry_arguments(self) -> dict[str, object]:
        """The retry buffer is a quorum queue whose messages carry a per-message TTL (the
        backoff) and, once expired, are dead-lettered by the broker through the default exchange
        back into the work queue, at least once, so a retried message is never dropped on its
        way back. It arrives there under the work queue's name as its routing key."""
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def binds(self, key: str) -> bool:
        """Whether a message published with ``key`` reaches this queue (topic semantics)."""
        return any(topic_matches(pattern, key) for pattern in self.bindings)


@dataclass(frozen=True)
class ListenerSpec:
    """A private queue that lives as long as its consumer's connection: exclusive, named by the
    broker, nothing left behind. For a service that follows events as they happen and recovers
    those missed while it was away from another source (e.g. the shot files)."""

    service: str
    handler: str
    bindings: tuple[str, ...]
    description: str = ""

    @property
    def name(self) -> str:
        """The label of its metrics and logs; the broker names the queue itself."""
        return f"{self.service}.{self.handler}"

    def binds(self, key: str) -> bool:
        return any(topic_matches(pattern, key) for pattern in self.bindings)


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more."""
    p_words, k_words = pattern.split("."), key.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(p_words):
            return j == len(k_words)
        if p_words[i] == "#":
            return any(match(i + 1, jj) for jj in range(j, len(k_words) + 1))
        if j == len(k_words):
            return False
        return (p_words[i] in ("*", k_words[j])) and match(i + 1, j + 1)

    return match(0, 0)


R = RoutingKey
SPOOLER_JOBS = QueueSpec(
    "spooler", "on_job_submitted", (any_backend(R.JOB_SUBMITTED),),
    single_active_consumer=True,
    description="Jobs waiting to be compiled into shots; ready messages are the job queue.",
    # The spooler hands a waiting job back every ~25 min while the apparatus is busy (it must
    # not hold it past the consumer timeout), and each hand-back counts as a delivery: 1000
    # allows ~2 weeks of waiting. Its intake parks real poison in the DLQ itself.
    delivery_limit=1000,
)
SPOOLER_CANCELS = QueueSpec(
    "spooler", "on_job_cancel_requested", (any_backend(R.JOB_CANCEL_REQUESTED),),
    single_active_consumer=True,
    description="Cancel requests; the spooler drops shots not yet handed to the executor.",
)
ANALYSIS_SHOTS = QueueSpec(
    "analysis", "on_shot_finished", (any_backend(R.SHOT_FINISHED),),
    description="Executed shots to analyse with the backend's lyse routines (competing consumers).",
)
ARCHIVER_SHOTS = QueueSpec(
    "archiver", "on_shot_analysed", (any_backend(R.SHOT_ANALYSED),),
    description="Analysed shots to move to the SDS archive.",
)
RESULTS_PROGRESS = QueueSpec(
    "analysis", "on_job_progress",
    (any_backend(R.JOB_SPOOLED), any_backend(R.SHOT_ARCHIVED), any_backend(R.JOB_CANCELLED),
     any_backend(R.JOB_FAILED)),
    single_active_consumer=True,
    description="Per-job shot bookkeeping; the last archived shot triggers the multi-shot result.",
)
INGEST_JOB_EVENTS = QueueSpec(
    "ingest", "on_job_event",
    (
        any_backend(R.JOB_SPOOLED), any_backend(R.JOB_STATUS_CHANGED), any_backend(R.JOB_DONE),
        any_backend(R.JOB_FAILED), any_backend(R.JOB_CANCELLED),
    ),
    description="Job lifecycle events the ingest folds into its job store.",
)

SPOOLER_SHOT_PROGRESS = ListenerSpec(
    "spooler", "on_shot_finished", (any_backend(R.SHOT_FINISHED),),
    description="Shots the executor finished, so the spooler can hand over the next ones.",
)

#: Every listener queue.
LISTENERS: Final[tuple[ListenerSpec, ...]] = (SPOOLER_SHOT_PROGRESS,)

#: Every work queue, in the order a job meets them.
QUEUES: Final[tuple[QueueSpec, ...]] = (
    SPOOLER_JOBS, SPOOLER_CANCELS, ANALYSIS_SHOTS, ARCHIVER_SHOTS, RESULTS_PROGRESS,
    INGEST_JOB_EVENTS,
)

#: One retry exchange per service that owns work queues.
RETRY_EXCHANGES: Final[tuple[str, ...]] = tuple(dict.fromkeys(q.retry_exchange for q in QUEUES))


def policies(vhost: str) -> list[dict[str, object]]:
    """Broker policies every shotline vhost carries: the delivery limit of the work queues."""
    by_limit: dict[int, list[QueueSpec]] = {}
    for spec in QUEUES:
        by_limit.setdefault(spec.delivery_limit, []).append(spec)
    return [
        {
            "vhost": vhost, "name": f"shotline-delivery-limit-{limit}",
            "pattern": "^(" + "|".join(q.name.replace(".", r"\.") for q in specs) + ")$",
            "apply-to": "queues", "priority": 10, "definition": {"delivery-limit": limit},
        }
        for limit, specs in sorted(by_limit.items())
    ]


def queue(name: str) -> QueueSpec:
    """Look a work queue up by name (for tools such as DLQ replay)."""
    for spec in QUEUES:
        if spec.name == name:
            return spec
    raise KeyError(f"no work queue named {name!r}; known: {[q.name for q in QUEUES]}")
