"""docker-compose.yml cannot be run here (no Docker daemon); check its structure instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from newswatch.cli import build_parser
from newswatch.settings import load_config
from tests.conftest import ROOT, SmtpServer


def test_compose_runs_migrations_then_a_scheduler_and_two_workers_on_a_healthy_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "scheduler", "worker", "mailpit"}
    postgres = services["postgres"]
    assert "postgres-data" in compose["volumes"]
    assert any(v.startswith("postgres-data:") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("scheduler", "worker"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert services["scheduler"]["command"] == ["run", "--distributed"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("migrate", "scheduler", "worker"):
        url = services[name]["environment"]["NEWSWATCH_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url
        build_parser().parse_args(services[name]["command"])  # a real command (entrypoint: newswatch)


def test_the_compose_config_mails_the_seed_story_and_serves_every_node(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    config_path = services["scheduler"]["environment"]["NEWSWATCH_CONFIG"]
    assert config_path == "/app/config/compose.yaml"
    assert "./config:/app/config:ro" in services["scheduler"]["volumes"]
    assert services["scheduler"]["ports"] == ["127.0.0.1:8787:8787"]
    assert services["worker"]["ports"] == ["127.0.0.1:8788-8789:8787"]  # one per replica
    config = load_config(ROOT / "config" / "compose.yaml", {})
    mail = next(c for c in config.channels if c.email is not None)
    assert mail.email is not None and (mail.email.smtp.host, mail.email.smtp.port) == ("mailpit", 1025)
    assert config.http is not None and config.http.listen == "0.0.0.0:8787"
    # The same config, run once against a real SMTP server in mailpit's place: the seed story mails.
    env = {
        **os.environ,
        "NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'compose.db'}",
        "NEWSWATCH_SMTP_HOST": "127.0.0.1",
        "NEWSWATCH_SMTP_PORT": str(smtp_server.port),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "newswatch",
            "--config",
            str(ROOT / "config" / "compose.yaml"),
            "run",
            "--once",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert len(smtp_server.messages) == 1
    message, recipients = smtp_server.messages[0]
    assert recipients == ["desk@example.org"]
    assert "Zelenskyy" in message.as_string() or "Putin" in message.as_string()
