"""Email delivery against aiosmtpd on loopback: STARTTLS and implicit TLS with a self-signed
certificate and a login, a transient 451 retried, a permanent 550 dead with the server's words."""

from __future__ import annotations

import json

from tests.conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer, Workspace


def write_config(workspace: Workspace, smtp: str, channel_extra: str = "") -> None:
    workspace.write_config(
        f"""\
sources: [{{name: desk, directory: ../seeds}}]
channels:
  - name: desk-mail
    email:
      to: [desk@example.org]
      bcc: [archive@example.org]
      from: newswatch@example.org
      smtp: {smtp}
{channel_extra}
rules: [{{name: kremlin, people: [Vladimir Putin], notify: [desk-mail]}}]
"""
    )


def statuses(workspace: Workspace, env: dict[str, str] | None = None) -> list[tuple[str, int, str | None]]:
    rows = json.loads(workspace.cli("alerts", "--json", env=env).stdout)
    return [(row["status"], row["attempts"], row["last_error"]) for row in rows]


def test_tls_and_login_deliver_and_the_password_is_not_logged(
    workspace: Workspace, tls_smtp_server: tuple[str, SmtpServer]
) -> None:
    mode, server = tls_smtp_server
    write_config(
        workspace,
        f"{{host: 127.0.0.1, port: {server.port}, {mode}: true, ca_file: {server.ca_file},"
        f" username: {SMTP_USER}, password: '${{SMTP_PASSWORD}}'}}",
    )
    result = workspace.cli("-vv", "run", "--once", env={"SMTP_PASSWORD": SMTP_PASSWORD})
    assert result.returncode == 0, result.stderr
    [(message, recipients)] = server.messages
    assert server.mailbox.sessions == [{"tls": True, "login": SMTP_USER}]
    assert sorted(recipients) == ["archive@example.org", "desk@example.org"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].startswith("<msg_") and message["Message-ID"].endswith("@example.org>")
    assert message["Subject"].startswith("[newswatch] kremlin: Russian President Vladimir Putin")
    assert SMTP_PASSWORD not in result.stderr + result.stdout


def test_an_untrusted_certificate_is_refused_and_retried_not_sent_in_the_clear(
    workspace: Workspace, tls_smtp_server: tuple[str, SmtpServer]
) -> None:
    mode, server = tls_smtp_server
    write_config(
        workspace,
        f"{{host: 127.0.0.1, port: {server.port}, {mode}: true, username: {SMTP_USER},"
        f" password: '${{SMTP_PASSWORD}}'}}",
        "    retry: [1h]",
    )
    result = workspace.cli("run", "--once", env={"SMTP_PASSWORD": SMTP_PASSWORD})
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert server.messages == []
    assert [s for s, _a, _e in statuses(workspace, {"SMTP_PASSWORD": SMTP_PASSWORD})] == ["failed"]


def test_451_is_retried_and_then_delivered_in_the_same_run(
    workspace: Workspace, smtp_server: SmtpServer
) -> None:
    write_config(workspace, f"{{host: 127.0.0.1, port: {smtp_server.port}}}", "    retry: [1s, 1h]")
    smtp_server.replies.append("451 4.3.0 Mailbox busy, try later")
    result = workspace.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    assert "SMTP 451 4.3.0 Mailbox busy, try later" in result.stderr
    assert len(smtp_server.messages) == 1
    assert statuses(workspace) == [("sent", 2, None)]


def test_550_is_dead_at_once_with_the_servers_words(workspace: Workspace, smtp_server: SmtpServer) -> None:
    write_config(workspace, f"{{host: 127.0.0.1, port: {smtp_server.port}}}")
    smtp_server.replies.append("550 5.7.1 Relaying denied by policy")
    result = workspace.cli("run", "--once")
    assert result.returncode == 1
    assert statuses(workspace) == [("dead", 1, "email desk-mail: SMTP 550 5.7.1 Relaying denied by policy")]
    assert smtp_server.messages == []


def test_a_user_template_folder_overrides_the_built_in_text(
    workspace: Workspace, smtp_server: SmtpServer
) -> None:
    folder = workspace.root / "config" / "mail"
    folder.mkdir(parents=True)
    (folder / "email.txt").write_text("Our desk template: {{ article.title }}\n")
    write_config(workspace, f"{{host: 127.0.0.1, port: {smtp_server.port}}}\n      templates: mail")
    assert workspace.cli("run", "--once").returncode == 0
    [(message, _rcpt)] = smtp_server.messages
    plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert plain.get_payload(decode=True).decode().startswith("Our desk template: Russian President")
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    assert "matched an article" in html.get_payload(decode=True).decode()  # the built-in HTML stays


def test_send_test_mails_the_channel(workspace: Workspace, smtp_server: SmtpServer) -> None:
    write_config(workspace, f"{{host: 127.0.0.1, port: {smtp_server.port}}}")
    result = workspace.cli("alerts", "send-test", "desk-mail")
    assert result.returncode == 0, result.stderr
    [(message, _rcpt)] = smtp_server.messages
    assert message["Subject"] == "[newswatch] test message for channel desk-mail"
