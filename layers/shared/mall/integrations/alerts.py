"""The merchant's alerts topic (SNS ``AlertsTopic``): messages for the people running the shop
(admins have no openid, so no WeChat message reaches them; the topic mails or pages them).

A standard topic delivers at least once and does not drop repeats: each message carries an
``alert_key`` attribute, the same for every delivery of one alert, for a subscriber to drop them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from mall.config import function_environment

logger = Logger(child=True)


class AlertPublisher(Protocol):
    def publish(self, *, subject: str, message: str, alert_key: str) -> None: ...


class SnsAlerts:
    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self._topic_arn = topic_arn
        self._client = client

    def publish(self, *, subject: str, message: str, alert_key: str) -> None:
        if self._client is None:
            import boto3  # only the functions that alert pay for the client

            self._client = boto3.client("sns")
        # SNS subjects must be ASCII, under 100 characters: the message carries the (Chinese) detail.
        self._client.publish(TopicArn=self._topic_arn, Subject=subject[:100], Message=message,
                             MessageAttributes={"alert_key": {"DataType": "String", "StringValue": alert_key}})


class LoggedAlerts:
    """Without a topic (a local stack with none): the alert in the log, so nothing is silently lost."""

    def publish(self, *, subject: str, message: str, alert_key: str) -> None:
        logger.warning("alert (no topic configured)", extra={"subject": subject, "alert_key": alert_key,
                                                             "alert": message})


@lru_cache(maxsize=1)
def alert_publisher() -> AlertPublisher:
    topic = function_environment().alerts_topic_arn
    return SnsAlerts(topic) if topic else LoggedAlerts()
