import pytest

from mall.config import ConfigurationError, load_settings


def test_defaults_and_aliases() -> None:
    settings = load_settings({"TABLE_NAME": "mall"})
    assert settings.table_name == "mall"
    assert settings.admin_max_failed_logins == 5
    assert settings.dynamodb_endpoint is None


def test_a_bad_variable_fails_cold_start_naming_it() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings({"TABLE_NAME": "mall", "ADMIN_MAX_FAILED_LOGINS": "zero"})
    assert "ADMIN_MAX_FAILED_LOGINS" in str(err.value)


def test_table_name_is_required() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings({})
    assert "TABLE_NAME" in str(err.value)
