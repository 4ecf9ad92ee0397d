# lensscan for HPC: build with `docker build -t lensscan .`, convert with
# `apptainer build lensscan.sif docker-daemon://lensscan:latest` where Docker is not allowed.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    LENSSCAN_WEIGHTS=/opt/lensscan/weights

WORKDIR /opt/lensscan
COPY pyproject.toml README.md ./
COPY .ci/install.sh .ci/install.sh
COPY lensscan lensscan
COPY weights weights
RUN bash .ci/install.sh

WORKDIR /data
ENTRYPOINT ["lensscan"]
CMD ["--help"]
