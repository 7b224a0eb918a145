"""Create the worker's topics when they are missing.

faust subscribes only to topics that exist when it starts (a missing input topic is ignored
until the next rebalance), so the worker and `capi-streams run` create the input and outcome
topics first, with `kafka.topic_partitions` partitions. Existing topics are left as they are.
"""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka_connection.clients import client_kwargs
from streams.settings import KafkaSettings

__all__ = ["ensure_topics", "input_partitions"]


async def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create missing input/responses/failures topics; return the names created."""
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = dict.fromkeys([*kafka.input_topics, kafka.responses_topic, kafka.failures_topic])
        new = [NewTopic(t, kafka.topic_partitions, 1) for t in wanted if t not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        return [t.name for t in new]
    finally:
        await admin.close()


async def input_partitions(kafka: KafkaSettings) -> int:
    """The most partitions of any input topic (0 when none exists): how many members of the
    group can hold work. faust's assignor hands out topics with the same partition count
    together (partition i of each to one member), so more members than this get nothing."""
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(list(kafka.input_topics))
    finally:
        await admin.close()
    return max((len(t.get("partitions") or ()) for t in described), default=0)
