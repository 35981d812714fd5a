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


# -- passwords inside URLs -------------------------------------------------------------------

URL_PASSWORDS = [
    ("mailbox", "url", "imaps://personbibl:Pa55word@mail.example:993/INBOX",
     "MAILPROC_MAILBOX_PASSWORD or mailbox.password_file"),
    ("mailbox", "url", "imap://personbibl:p@ss@mail.example/INBOX",
     "MAILPROC_MAILBOX_PASSWORD or mailbox.password_file"),
    ("smtp", "url", "smtp://personbibl:Pa55word@mail.example:587",
     "MAILPROC_SMTP_PASSWORD or smtp.password_file"),
    ("database", "url", "postgresql+psycopg://mailproc:Pa55word@db.example/mailproc",
     "MAILPROC_DATABASE_URL"),
    ("mail", "from_name", "see https://admin:Pa55word@intranet.example/",
     "MAILPROC_MAIL_FROM_NAME"),
]


@pytest.mark.parametrize("section, key, url, where", URL_PASSWORDS)
def test_a_password_inside_a_url_in_the_file_is_refused(tmp_path, section, key, url, where):
    path = write(tmp_path, f'[{section}]\n{key} = "{url}"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    message = str(err.value)
    assert message.startswith(f"{section}.{key}: secrets are not written in the settings file")
    assert where in message and "\n" not in message
    assert "Pa55word" not in message and "ss@mail" not in message


def test_a_password_inside_a_named_mailbox_url_is_refused(tmp_path):
    path = write(tmp_path, '[mailboxes.second]\nurl = "imap://u:Pa55word@h.example/INBOX"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert str(err.value).startswith("mailboxes.second.url: secrets are not written")
    assert "MAILPROC_MAILBOXES_SECOND_PASSWORD" in str(err.value)
    assert "Pa55word" not in str(err.value)


@pytest.mark.parametrize("url", [
    "imaps://personbibl@mail.example:993/INBOX", "imap://personbibl:@mail.example/INBOX",
    "smtp://mail.example:587", "postgresql+psycopg://mailproc@/mailproc",
    "sqlite:///data/x.sqlite3", "maildir:/var/mail/x"])
def test_urls_without_a_password_pass(url):
    from mailproc.config import redact, url_has_password

    assert not url_has_password(url) and redact(url) == url


def test_redact_hides_every_url_password():
    from mailproc.config import redact

    assert redact("imap://u:p@ss@h:143/INBOX") == "imap://u:***@h:143/INBOX"
    assert redact("postgresql+psycopg://m:pw@db/x and smtp://a:b@c") == \
        "postgresql+psycopg://m:***@db/x and smtp://a:***@c"


def test_a_wrong_url_from_the_environment_is_shown_without_its_password(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"MAILPROC_MAILBOX_URL": "pop3://u:Pa55word@h/"})
    assert "Pa55word" not in str(err.value) and "u:***@h" in str(err.value)


ENV_URLS = {"MAILPROC_MAILBOX_URL": "imap://personbibl:Imap5ecret@127.0.0.1:1/INBOX",
            "MAILPROC_SMTP_URL": "smtp://personbibl:Smtp5ecret@127.0.0.1:1",
            "MAILPROC_MAILBOXES_SECOND_PASSWORD": "Named5ecret"}


@pytest.fixture
def env_urls(tmp_path, monkeypatch):
    for key, value in ENV_URLS.items():
        monkeypatch.setenv(key, value)
    config = write(tmp_path, f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite3"\n'
                             f'[paths]\ndata = "{tmp_path / "data"}"\n'
                             f'[mailboxes.second]\nurl = "imap://other@127.0.0.1:1/INBOX"\n')
    return config


def _no_secret_in(text: str) -> None:
    for secret in ("Imap5ecret", "Smtp5ecret", "Named5ecret", "Pg5ecret"):
        assert secret not in text


def test_config_show_never_prints_a_password(env_urls, monkeypatch, capsys):
    from mailproc.cli import main

    monkeypatch.setenv("MAILPROC_DATABASE_URL", "postgresql+psycopg://m:Pg5ecret@db.example/m")
    assert main(["--config", env_urls, "config", "show"]) == 0
    out = capsys.readouterr().out
    _no_secret_in(out)
    assert "url = 'imap://personbibl:***@127.0.0.1:1/INBOX'" in out
    assert "url = 'postgresql+psycopg://m:***@db.example/m'" in out


def test_status_never_prints_a_password(env_urls, capsys):
    import json

    from mailproc.cli import main

    assert main(["--config", env_urls, "status"]) == 0
    text_out = capsys.readouterr().out
    _no_secret_in(text_out)
    assert "imap://personbibl:***@127.0.0.1:1/INBOX" in text_out
    assert main(["--config", env_urls, "status", "--json"]) == 0
    data = capsys.readouterr().out
    _no_secret_in(data)
    assert json.loads(data)["mailbox"] == "imap://personbibl:***@127.0.0.1:1/INBOX"
