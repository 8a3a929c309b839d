"""The operator commands docs/operations.md gives: redriving dead letters and rotating a secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tools import redrive, rotate_secret

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _queues() -> tuple[Any, str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    dead = sqs.create_queue(QueueName="DeadLetterQueue")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    work = sqs.create_queue(QueueName="CommissionQueue", Attributes={
        "RedrivePolicy": f'{{"deadLetterTargetArn": "{dead_arn}", "maxReceiveCount": "1"}}'})["QueueUrl"]
    return sqs, dead, work


def _fail_once(sqs: Any, work: str, body: str) -> None:
    sqs.send_message(QueueUrl=work, MessageBody=body)
    received = sqs.receive_message(QueueUrl=work, VisibilityTimeout=0)["Messages"]
    assert [m["Body"] for m in received] == [body]
    # The next receive finds it past maxReceiveCount: SQS parks it in the dead-letter queue.
    assert sqs.receive_message(QueueUrl=work, VisibilityTimeout=0).get("Messages", []) == []


def test_moving_by_hand_returns_parked_messages_to_their_queue(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    sqs, dead, work = _queues()
    for n in range(3):
        _fail_once(sqs, work, f'{{"order_id": "o_{n}"}}')
    assert redrive.main(["--queue-url", dead, "--to-url", work], sqs=sqs) == 0
    assert "moved 3" in capsys.readouterr().out
    bodies = sorted(m["Body"] for m in sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10)["Messages"])
    assert bodies == ['{"order_id": "o_0"}', '{"order_id": "o_1"}', '{"order_id": "o_2"}']
    assert sqs.receive_message(QueueUrl=dead).get("Messages", []) == []


def test_the_aws_form_starts_one_move_task_back_to_each_message_source() -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/DeadLetterQueue"
    arn = "arn:aws:sqs:us-east-1:123456789012:DeadLetterQueue"
    with Stubber(sqs) as stub:
        stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": arn}},
                          {"QueueUrl": url, "AttributeNames": ["QueueArn"]})
        # No DestinationArn: SQS returns each message to the queue it failed in.
        stub.add_response("start_message_move_task", {"TaskHandle": "handle-1"}, {"SourceArn": arn})
        assert redrive.main(["--queue-url", url], sqs=sqs) == 0
        stub.assert_no_pending_responses()


def test_rotating_the_token_key_writes_a_new_secure_version_that_the_functions_read(
        aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    from mall import secrets as mall_secrets
    from mall.config import get_settings

    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/mall/prod/token_signing_key", Value="old-key", Type="SecureString")
    monkeypatch.setenv("SECRETS_PREFIX", "/mall/prod")
    monkeypatch.delenv("SECRETS_FILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    get_settings.cache_clear()
    parameters.clear_caches()
    try:
        assert mall_secrets.get_secret("token_signing_key") == "old-key"
        assert rotate_secret.main(["token_signing_key"], ssm=ssm) == 0
        stored = ssm.get_parameter(Name="/mall/prod/token_signing_key", WithDecryption=True)["Parameter"]
        assert stored["Type"] == "SecureString" and stored["Version"] == 2
        assert stored["Value"] != "old-key" and len(stored["Value"]) >= 48
        parameters.clear_caches()  # what SECRETS_MAX_AGE_SECONDS does in a running function
        assert mall_secrets.get_secret("token_signing_key") == stored["Value"]
    finally:
        get_settings.cache_clear()
        parameters.clear_caches()


def test_a_key_that_comes_from_wechat_is_never_made_up(aws: None, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SECRETS_PREFIX", "/mall/prod")
    ssm = boto3.client("ssm", region_name=REGION)
    assert rotate_secret.main(["wechatpay_apiv3_key"], ssm=ssm) == 2
    assert "--from-file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rotate_secret.main(["not_a_secret"], ssm=ssm)
