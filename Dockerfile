FROM python:3.11-slim-bookworm

RUN useradd --create-home --uid 10001 duyet
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY service ./service
COPY models ./models
RUN pip install --no-cache-dir -c constraints.txt . \
 && mkdir -p /data && chown duyet /data

USER duyet
ENV DUYET_HOST=0.0.0.0 DUYET_PORT=8080 DUYET_DATA_DIR=/data DUYET_MODEL_PATH=/app/models/spam-model.skops
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"
CMD ["duyet", "serve"]
