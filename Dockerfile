FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY newswatch newswatch
COPY ingest ingest
COPY alerts alerts
COPY core core
RUN pip install --no-cache-dir .
COPY seeds seeds
COPY config config
# The database lives in a volume; the config is mounted read-only (see docker-compose.yml).
ENV NEWSWATCH_CONFIG=/app/config/newswatch.yaml \
    NEWSWATCH_DATABASE_URL=sqlite:////data/newswatch.db
VOLUME ["/data"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["newswatch"]
CMD ["run"]
