# lensscan for laptops, CI and GPU nodes.
#   docker build -t lensscan .                                    # CPU build of torch (default)
#   docker build -t lensscan:cuda \
#     --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 .   # CUDA 12.4 build
#   docker run --rm --gpus all -v $PWD:/data lensscan:cuda scan field.fits --device cuda
# On clusters without Docker, build docs/hpc/lensscan.def with Apptainer instead.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

# The wheel index torch and torchvision come from: .../whl/cpu keeps the image small;
# .../whl/cu124 (or cu121, cu126 ...) bundles the CUDA runtime for the node's driver.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    LENSSCAN_WEIGHTS=/opt/lensscan/weights

WORKDIR /opt/lensscan
# torch first, from the chosen index; the package install below then keeps it.
RUN python -m pip install --index-url "${TORCH_INDEX}" torch torchvision
COPY pyproject.toml README.md ./
COPY .ci/install.sh .ci/install.sh
COPY lensscan lensscan
COPY weights weights
RUN bash .ci/install.sh \
    && useradd --create-home --uid 1000 --shell /usr/sbin/nologin lensscan \
    && mkdir -p /data \
    && chown lensscan:lensscan /data

USER lensscan
WORKDIR /data
HEALTHCHECK --interval=5m --timeout=60s --start-period=30s \
    CMD ["python", "-c", "import lensscan.scan.scanner; from lensscan.models import resolve_model_path; resolve_model_path(None)"]
ENTRYPOINT ["lensscan"]
CMD ["--help"]
