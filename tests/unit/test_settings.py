"""Settings: shipped defaults, a YAML file over them, the environment over both; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime.settings import load_settings
from bot.settings import SHIPPED_FAQ, ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no config/kefu.yaml in the working directory


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    s = load_settings(None)
    assert s.redis_url == ""
    assert s.nlu.answer_threshold == 0.5 and s.server.port == 8080
    assert s.faq_path == SHIPPED_FAQ and SHIPPED_FAQ.exists()
    assert s.intent_model_path == s.data_dir / "intent.bin"
    assert not s.channels.apps_of("wecom")


def test_yaml_file_over_defaults(tmp_path: Path) -> None:
    cfg = write(tmp_path / "kefu.yaml", "nlu:\n  margin: 0.3\nserver:\n  port: 9000\n")
    s = load_settings(cfg)
    assert s.nlu.margin == 0.3 and s.server.port == 9000
    assert s.nlu.answer_threshold == 0.5  # untouched sibling keeps the shipped default
    assert s.server.host == "0.0.0.0"


def test_kefu_config_env_chooses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "elsewhere.yaml", "key_prefix: shop1\n")
    monkeypatch.setenv("KEFU_CONFIG", str(cfg))
    assert load_settings(None).key_prefix == "shop1"


def test_environment_overrides_with_nesting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "kefu.yaml", "redis_url: redis://file:6379/0\nnlu:\n  margin: 0.3\n")
    monkeypatch.setenv("KEFU_REDIS_URL", "redis://env:6379/1")
    monkeypatch.setenv("KEFU_NLU__ANSWER_THRESHOLD", "0.7")
    monkeypatch.setenv("KEFU_CHANNELS__WECOM__SECRET", "s3cr3t-from-env")
    s = load_settings(cfg)
    assert s.redis_url == "redis://env:6379/1"  # env beats the file
    assert s.nlu.answer_threshold == 0.7
    assert s.nlu.margin == 0.3  # the file's sibling key survives the nested env override
    assert s.channels.wecom.secret.get_secret_value() == "s3cr3t-from-env"


def test_unknown_key_is_reported(tmp_path: Path) -> None:
    cfg = write(tmp_path / "kefu.yaml", "nlu:\n  answer_treshold: 0.6\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    assert "nlu.answer_treshold: unknown key" in str(e.value)
    assert str(cfg) in str(e.value)


def test_wrong_type_names_the_dotted_key_and_expected_type(tmp_path: Path) -> None:
    cfg = write(tmp_path / "kefu.yaml", "server:\n  port: lots\nnlu:\n  margin: big\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    msg = str(e.value)
    assert "server.port:" in msg and "integer" in msg and "'lots'" in msg
    assert "nlu.margin:" in msg and "number" in msg


def test_out_of_range_value(tmp_path: Path) -> None:
    cfg = write(tmp_path / "kefu.yaml", "nlu:\n  answer_threshold: 1.5\n")
    with pytest.raises(ConfigError, match=r"nlu\.answer_threshold: .*1"):
        load_settings(cfg)


def test_wrong_type_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_SERVER__PORT", "abc")
    with pytest.raises(ConfigError, match=r"server\.port: .*integer"):
        load_settings(None)


def test_unparsable_section_from_the_environment_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A whole section given as a plain string (it must be JSON) is an operator mistake too.
    monkeypatch.setenv("KEFU_NLU", "oops")
    with pytest.raises(ConfigError, match="nlu"):
        load_settings(None)


def test_secrets_are_never_echoed(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "kefu.yaml",
        "channels:\n  wecom:\n    corp_id: ww1\n    secret: [hunter2-very-secret]\n"
        "    encoding_aes_key: 12345\n    agent_id: notanumber\n",
    )
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    msg = str(e.value)
    assert "channels.wecom.secret:" in msg and "channels.wecom.encoding_aes_key:" in msg
    assert "hunter2" not in msg and "12345" not in msg
    assert "'notanumber'" in msg  # a non-secret value is shown to help


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "kefu.yaml", "nlu:\n  margin: 0.3\n  clarify_threshold: [0.1\nserver: {}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    assert str(cfg) in str(e.value)
    assert "not valid YAML at line" in str(e.value)


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_settings(write(tmp_path / "list.yaml", "- a\n- b\n"))
    assert load_settings(write(tmp_path / "empty.yaml", "")).server.port == 8080


def test_relative_knowledge_base_resolves_next_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(tmp_path / "shop" / "kefu.yaml", "knowledge_base: kb/faq.yaml\n")
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    s = load_settings(cfg)
    assert s.faq_path == (tmp_path / "shop" / "kb" / "faq.yaml").resolve()
    absolute = write(tmp_path / "abs.yaml", f"knowledge_base: {tmp_path / 'x.yaml'}\n")
    assert load_settings(absolute).faq_path == tmp_path / "x.yaml"


def test_local_config_in_the_working_directory_is_used(tmp_path: Path) -> None:
    write(tmp_path / "config" / "kefu.yaml", "key_prefix: localshop\n")
    assert load_settings(None).key_prefix == "localshop"


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000",
        "rediss+cluster://user:pw@node.example:6380?socket_timeout=2",
        "redis+sentinel://s1:26379,s2:26379/mymaster",
        "redis+sentinel://:pw@[::1]:26379/mymaster/2?sentinel_password=spw",
    ],
)
def test_cluster_and_sentinel_urls_load(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("KEFU_REDIS_URL", url)
    assert load_settings(None).redis_url == url


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("redis+cluster://", "needs at least one host:port"),
        ("redis+cluster://:hunter2@a:7000,b/0", "'b' is not host:port"),
        ("redis+cluster://:hunter2@a:7000/0", "takes no path"),
        ("redis+sentinel://:hunter2@s1:26379", "needs the master's name"),
        ("redis+sentinel://:hunter2@s1:26379/mymaster/zero", "must be a number"),
        ("redis+sentinel://:hunter2@s1:26379/mymaster?hunter=1", "unknown option 'hunter'"),
        ("redis+cluster://:hunter2@a:7000?sentinel_password=x", "unknown option 'sentinel_password'"),
        ("redis+cluster://:hunter2@a:7000?socket_timeout=soon", "must be a float"),
        ("redis+shard://a:7000", "redis+cluster://"),
    ],
)
def test_unusable_cluster_and_sentinel_urls_say_why(monkeypatch: pytest.MonkeyPatch, url: str, needle: str) -> None:
    monkeypatch.setenv("KEFU_REDIS_URL", url)
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert "redis_url" in str(caught.value) and needle in str(caught.value)
    assert "hunter2" not in str(caught.value)
