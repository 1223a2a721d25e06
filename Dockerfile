# Image of the daily strategy report: its command is `report` (CONTRACT 2).
# Stage 1 builds wheels of the package and of every dependency; the runtime stage installs them offline,
# so it needs no network, no compiler and keeps no build tools.
# Local build: see helm/trading-system/README.md ("Image").
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reports ./reports
COPY templates ./templates
# --prefer-binary: every dependency has manylinux wheels; never compile one here by accident.
RUN python -m pip wheel --no-cache-dir --prefer-binary --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="sapphire-strategy-report" \
      org.opencontainers.image.description="Daily strategy report of the Sapphire trading system"
ARG APP_UID=1000
ARG APP_GID=1000
# MPLCONFIGDIR holds the font cache built below; the chart copies it to a writable emptyDir and points
# MPLCONFIGDIR there, because the pod's root filesystem is read-only.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/opt/matplotlib \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --gid "${APP_GID}" app \
 && useradd --uid "${APP_UID}" --gid "${APP_GID}" --no-log-init --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app \
 && python -m venv /opt/venv \
 && install -d -o "${APP_UID}" -g "${APP_GID}" /opt/matplotlib
# The wheels are bind-mounted, not copied: they stay out of the image's layers.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/wheels /wheels/sapphire_strategy_report-*.whl \
 && /opt/venv/bin/pip uninstall --yes pip

USER ${APP_UID}:${APP_GID}
WORKDIR /home/app
# Build matplotlib's font cache now, so that a run never spends time (or needs a writable disk) on it.
RUN python -c "import matplotlib.font_manager as fm; fm.findfont('DejaVu Sans', fallback_to_default=False)"

ENTRYPOINT ["report"]
