import re
from pathlib import Path
from typing import get_args

import pytest

from mall.config import ConfigurationError, Settings, function_environment, load_settings
from mall.secrets import SecretName
from mall.services.promotion_media import MediaSettings
from tests.conftest import ROOT


def test_defaults_and_aliases() -> None:
    settings = load_settings({"TABLE_NAME": "mall"})
    assert settings.table_name == "mall"
    assert settings.admin_max_failed_logins == 5
    assert settings.dynamodb_endpoint is None


def test_a_bad_variable_fails_cold_start_naming_it() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings({"TABLE_NAME": "mall", "ADMIN_MAX_FAILED_LOGINS": "zero"})
    assert "ADMIN_MAX_FAILED_LOGINS" in str(err.value)


def test_the_settlement_planner_reads_the_four_due_shards_unless_told_sixteen() -> None:
    assert function_environment({}).settlement_due_shards_read == 4
    assert function_environment({"SETTLEMENT_DUE_SHARDS_READ": "16"}).settlement_due_shards_read == 16
    for wrong in ("0", "17", "many"):
        with pytest.raises(ConfigurationError, match="SETTLEMENT_DUE_SHARDS_READ"):
            function_environment({"SETTLEMENT_DUE_SHARDS_READ": wrong})


def test_table_name_is_required() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings({})
    assert "TABLE_NAME" in str(err.value)


def test_an_empty_notify_url_counts_as_unset() -> None:
    # The template sets WECHATPAY_NOTIFY_URL for every function; empty must not fail their cold start.
    assert load_settings({"TABLE_NAME": "mall", "WECHATPAY_NOTIFY_URL": ""}).wechatpay_notify_url is None
    with pytest.raises(ConfigurationError, match="WECHATPAY_NOTIFY_URL"):
        load_settings({"TABLE_NAME": "mall", "WECHATPAY_NOTIFY_URL": "not a url"})


def _code_files() -> list[Path]:
    return [p for base in ("layers/shared/mall", "functions") for p in (ROOT / base).rglob("*.py")
            if "__pycache__" not in p.parts]


def test_every_variable_the_code_reads_is_documented() -> None:
    names = {str(field.alias) for model in (Settings, MediaSettings) for field in model.model_fields.values()}
    for path in _code_files():
        names |= set(re.findall(r"os\.environ(?:\.get)?[\[(]\s*\"([A-Z0-9_]+)\"", path.read_text("utf-8")))
    template_globals = re.search(r"^Globals:.*?^Resources:", (ROOT / "template.yaml").read_text("utf-8"),
                                 re.DOTALL | re.MULTILINE)
    assert template_globals is not None
    names |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]+):", template_globals.group(0), re.MULTILINE))
    documented = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    assert {"SHARE_PAGE", "QR_ENV_VERSION", "QR_CHECK_PATH", "WECHATPAY_NOTIFY_URL", "TABLE_NAME"} <= names
    assert sorted(n for n in names if f"`{n}`" not in documented) == []


def test_every_secret_read_is_a_secret_name_and_documented_for_deployment() -> None:
    declared = set(get_args(SecretName))
    read: set[str] = set()
    for path in _code_files():
        read |= set(re.findall(r"get_secret\(\s*\"([a-z0-9_]+)\"", path.read_text("utf-8")))
    assert read <= declared, read - declared
    assert {"pii_encryption_key", "wechatpay_public_key"} <= read
    readme = (ROOT / "README.md").read_text("utf-8")
    deployment = readme[readme.index("## Deploying"):]
    configuration = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    assert sorted(n for n in declared if f"/mall/<Stage>/{n}`" not in deployment) == []
    assert sorted(n for n in declared if f"`{n}`" not in configuration) == []
