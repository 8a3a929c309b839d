"""Envelope encryption of personal data with a KMS data key (moto's KMS and DynamoDB): one
GenerateDataKey per container, the wrapped key stored once, one Decrypt per key_ref, old key_refs
and v1 tokens decryptable forever, the record id bound as associated data."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidTag

from mall.dal.keys import key_item_key
from mall.dal.table import main_table
from mall.domain import masking
from mall.integrations import pii_crypto


class CountingKms:
    """moto's KMS client, counting the calls that cost money and latency."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.generated = 0
        self.decrypted = 0

    def generate_data_key(self, **kwargs: Any) -> Any:
        self.generated += 1
        return self.client.generate_data_key(**kwargs)

    def decrypt(self, **kwargs: Any) -> Any:
        self.decrypted += 1
        return self.client.decrypt(**kwargs)


@pytest.fixture
def kms(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingKms]:
    client = boto3.client("kms", region_name="us-east-1")
    key_id = client.create_key(Description="pii", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]
    client.enable_key_rotation(KeyId=key_id)
    monkeypatch.setenv("PII_KMS_KEY_ID", key_id)
    counting = CountingKms(client)
    pii_crypto.reset_caches()
    monkeypatch.setattr(pii_crypto, "_kms", lambda: counting)
    yield counting
    pii_crypto._cache.clear()


def new_container() -> None:
    """What a cold start forgets: every cached data key."""
    pii_crypto._cache.clear()


def test_v2_round_trip_with_the_record_id_as_associated_data(kms: CountingKms) -> None:
    token = pii_crypto.encrypt("13812341234", context="ORDER#o1")
    version, ref, payload = token.split(":")
    assert version == "v2" and ref.startswith("k") and len(ref) == 13
    assert "1381234" not in token and b"13812341234" not in base64.urlsafe_b64decode(payload)
    assert pii_crypto.decrypt(token, context="ORDER#o1") == "13812341234"
    with pytest.raises(InvalidTag):
        pii_crypto.decrypt(token, context="ORDER#o2")


def test_one_data_key_per_container_stored_wrapped_once(kms: CountingKms) -> None:
    tokens = [pii_crypto.encrypt(f"value {i}", context="c") for i in range(20)]
    assert kms.generated == 1
    refs = {t.split(":")[1] for t in tokens}
    assert len(refs) == 1
    item = main_table().get(key_item_key(refs.pop()))
    assert item is not None and item["entity"] == "pii_key" and item["kms_key_id"]
    assert "expires_at" not in item
    wrapped = bytes(item["wrapped"])
    assert len(wrapped) > 32  # the KMS ciphertext blob, never the plaintext key
    assert kms.decrypted == 0  # the container that made the key never asks KMS to open it


def test_a_new_container_unwraps_once_per_key_ref(kms: CountingKms) -> None:
    tokens = [pii_crypto.encrypt(f"张三{i}", context=f"ORDER#o{i}") for i in range(5)]
    new_container()
    opened = [pii_crypto.decrypt(t, context=f"ORDER#o{i}") for i, t in enumerate(tokens)]
    assert opened == [f"张三{i}" for i in range(5)]
    assert kms.decrypted == 1


def test_rotation_old_key_refs_stay_decryptable(kms: CountingKms) -> None:
    first = pii_crypto.encrypt("13800000001", context="c")
    new_container()  # a new container makes its own data key
    second = pii_crypto.encrypt("13800000002", context="c")
    assert kms.generated == 2 and first.split(":")[1] != second.split(":")[1]
    new_container()
    assert pii_crypto.decrypt(first, context="c") == "13800000001"
    assert pii_crypto.decrypt(second, context="c") == "13800000002"
    assert kms.decrypted == 2


def test_v1_tokens_stay_decryptable_when_kms_is_on(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PII_KMS_KEY_ID", raising=False)
    pii_crypto.reset_caches()
    legacy = pii_crypto.encrypt("广东省深圳市南山区", context="ORDER#o9")
    assert legacy.startswith("v1:")
    client = boto3.client("kms", region_name="us-east-1")
    monkeypatch.setenv("PII_KMS_KEY_ID", client.create_key()["KeyMetadata"]["KeyId"])
    pii_crypto.reset_caches()
    assert pii_crypto.encrypt("x", context="c").startswith("v2:")
    assert pii_crypto.decrypt(legacy, context="ORDER#o9") == "广东省深圳市南山区"


def test_locally_without_a_kms_key_tokens_are_v1(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PII_KMS_KEY_ID", raising=False)
    token = pii_crypto.encrypt("13812341234", context="c")
    assert token.startswith("v1:") and pii_crypto.decrypt(token, context="c") == "13812341234"


def test_a_token_whose_key_is_missing_or_unknown_fails_loudly(kms: CountingKms) -> None:
    token = pii_crypto.encrypt("x", context="c")
    ref = token.split(":")[1]
    new_container()
    main_table().client.delete_item(TableName=main_table().name,
                                    Key={"pk": {"S": f"PII_KEY#{ref}"}, "sk": {"S": "KEY"}})
    with pytest.raises(ValueError, match="not in the table"):
        pii_crypto.decrypt(token, context="c")
    with pytest.raises(ValueError, match="unknown personal-data token version"):
        pii_crypto.decrypt("v9:abc", context="c")


def test_an_erased_value_is_a_conflict_not_a_crash(kms: CountingKms) -> None:
    with pytest.raises(pii_crypto.PersonalDataErased) as caught:
        pii_crypto.decrypt(masking.ERASED, context="c")
    assert caught.value.code == "personal_data_erased"
    assert masking.is_erased(masking.ERASED) and not masking.is_erased(pii_crypto.encrypt("x", context="c"))
