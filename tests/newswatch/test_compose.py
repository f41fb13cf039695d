"""docker-compose.yml cannot be run here (no Docker daemon); check its structure instead."""

from __future__ import annotations

import yaml

from newswatch.cli import build_parser
from tests.conftest import ROOT


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
