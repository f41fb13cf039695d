# The one Newswatch image: docker-compose.yml builds it once as newswatch:<version> and runs every
# node from it; `docker build -t newswatch:0.1.0 .` builds it alone (docs/operations.md, "Docker").
FROM python:3.11.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY newswatch newswatch
COPY ingest ingest
COPY alerts alerts
COPY core core
RUN pip install --no-cache-dir .
COPY seeds seeds
COPY config config
# An unprivileged user runs Newswatch; it owns only /data, where the SQLite database lives.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin newswatch \
    && mkdir /data && chown newswatch:newswatch /data
USER newswatch
# The config is mounted read-only in compose (config/compose.yaml); the demo config is the default.
ENV NEWSWATCH_CONFIG=/app/config/newswatch.yaml \
    NEWSWATCH_DATABASE_URL=sqlite:////data/newswatch.db \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
# The `http:` endpoint (/healthz, /readyz, /metrics, status page) when the config sets one.
EXPOSE 8787
STOPSIGNAL SIGTERM
ENTRYPOINT ["newswatch"]
CMD ["run"]
