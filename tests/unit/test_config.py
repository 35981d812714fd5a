"""Settings: file, environment, defaults, and one clear line for a wrong value."""

from pathlib import Path

import pytest

from mailproc.config import example_toml, load_settings
from mailproc.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    path = tmp_path / "mailproc.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.mail.timezone == "Asia/Yakutsk"
    assert s.mailbox.review_folder == "На разбор"
    assert s.mailbox.max_message_size == 50 * 1024 * 1024
    assert s.database.url == "sqlite:///data/mailproc.sqlite3"
    assert s.source == ""


def test_shipped_example_documents_every_key_with_its_default():
    assert (REPO / "mailproc.example.toml").read_text(encoding="utf-8") == example_toml()


def test_example_file_loads_to_the_defaults(tmp_path):
    path = write(tmp_path, example_toml())
    s = load_settings(path, environ={})
    assert s.mailbox.poll_interval == 60.0
    assert s.smtp.retry_deadline == 3 * 86400


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, '[mailbox]\npoll_interval = "30s"\n')
    s = load_settings(path, environ={"MAILPROC_MAILBOX_POLL_INTERVAL": "5m"})
    assert s.mailbox.poll_interval == 300.0


def test_config_file_from_environment(tmp_path):
    path = write(tmp_path, '[mail]\nfrom_name = "НБ РС(Я)"\n')
    assert load_settings(None, environ={"MAILPROC_CONFIG": path}).mail.from_name == "НБ РС(Я)"


@pytest.mark.parametrize("text, key", [
    ('[mailbox]\npoll_interval = "soon"\n', "mailbox.poll_interval"),
    ('[mailbox]\nurl = "pop3://x"\n', "mailbox.url"),
    ('[mail]\ntimezone = "Mars/Olympus"\n', "mail.timezone"),
    ('[mail]\nfrom_address = "nobody"\n', "mail.from_address"),
    ('[smtp]\nconnections = "many"\n', "smtp.connections"),
    ('[mailbox]\npolling = 5\n', "mailbox.polling"),
    ('[mailbox]\npassword = "secret"\n', "mailbox.password"),
])
def test_wrong_value_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), environ={})
    message = str(err.value)
    assert message.startswith(key + ":")
    assert "\n" not in message
    assert "secret" not in message.split(":", 1)[1] or key == "mailbox.password"


def test_wrong_environment_value_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="MAILPROC_SMTP_TIMEOUT"):
        load_settings(environ={"MAILPROC_SMTP_TIMEOUT": "never"})


def test_unknown_key_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError, match="did you mean mailbox.poll_interval"):
        load_settings(write(tmp_path, "[mailbox]\npoll_intervall = 5\n"), environ={})


def test_password_from_file_and_never_in_repr(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t\n")
    path = write(tmp_path, f'[mailbox]\npassword_file = "{secret}"\n')
    s = load_settings(path, environ={})
    assert s.mailbox.password == "s3cr3t"
    assert "s3cr3t" not in repr(s)


def test_password_from_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={"MAILPROC_MAILBOX_PASSWORD": "pw"})
    assert s.mailbox.password == "pw"
    assert "pw'" not in repr(s.mailbox)


def test_relative_paths_follow_the_settings_file(tmp_path):
    path = write(tmp_path, '[paths]\nrules = "my-rules"\n')
    assert load_settings(path, environ={}).paths.rules == str(tmp_path / "my-rules")


def test_missing_config_file_is_one_line():
    with pytest.raises(ConfigError, match="no such file"):
        load_settings("/nonexistent/mailproc.toml", environ={})
