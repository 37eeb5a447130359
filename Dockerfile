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
RUN useradd --system --uid 10001 llr
USER llr
