# One image for every service; docker-compose.yml picks the entrypoint per service.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app:/app/gen
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY protos/ protos/
# Generated protobuf code is produced at build time, never copied in.
RUN mkdir gen && find protos -name '*.proto' -print0 | xargs -0 python -m grpc_tools.protoc -Iprotos \
      --python_out=gen --pyi_out=gen --grpc_python_out=gen
COPY services/ services/
# The services run as this non-root user; the only directory they write is the platform's
# home (LLR_INFRA_HOME: the KPI service's RocksDB state under data/kpi), which it owns.
# docker-compose.yml and deploy/k8s mount their volumes there (tests/unit/deploy check it).
ENV LLR_INFRA_HOME=/var/lib/llr
RUN useradd --system --uid 10001 --gid 0 --home-dir /var/lib/llr llr \
    && mkdir -p /var/lib/llr/data/kpi && chown -R 10001:0 /var/lib/llr && chmod -R g=u /var/lib/llr
USER 10001
