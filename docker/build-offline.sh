#!/usr/bin/env bash
# Builds the FaceQA images on a machine that reaches Debian's and PyPI's archives but no
# image registry (docker pull fails):
#
#   1. faceqa-base:bookworm   a Debian 12 root file system made by mmdebstrap (Python 3.11 with a
#                             virtual environment in /opt/venv, PostgreSQL, Redis), `docker import`ed;
#   2. the wheels of requirements.txt, built or downloaded on this host by `pip wheel` into a cache
#      folder outside the repository (FACEQA_WHEEL_DIR), reused by later builds;
#   3. faceqa:latest          docker/Dockerfile on that base: `pip install --no-index` from the wheel
#                             folder, served to the build over loopback (docker build --network host)
#                             so that the wheels are neither sent in the build context nor kept in a layer;
#   4. faceqa-postgres:bookworm, faceqa-redis:bookworm   the database and the broker from the same
#                             base, Debian's packages (docker/services.Dockerfile).
#
# Each step is skipped when its result is there and up to date (the base image is labelled with
# the hash of its recipe, the wheel folder with the hash of requirements.txt and the Python version; the app image
# uses Docker's layer cache). Run as root (mmdebstrap, docker). Then start the stack with
#   FACEQA_BASE_IMAGE=faceqa-base:bookworm FACEQA_POSTGRES_IMAGE=faceqa-postgres:bookworm \
#   FACEQA_REDIS_IMAGE=faceqa-redis:bookworm docker-compose --env-file ENV -f docker/compose.yaml up -d
# (the script prints these lines at the end).
#
# Settings (environment): FACEQA_BASE_IMAGE, FACEQA_IMAGE, FACEQA_POSTGRES_IMAGE, FACEQA_REDIS_IMAGE
# (image names), FACEQA_WHEEL_DIR (default ~/.cache/faceqa/wheels), FACEQA_WHEEL_PORT (loopback
# port of the wheel server during the build, default 8765), FACEQA_HOST_PYTHON (a Python with pip
# of the image's exact version, 3.11.2 on Debian 12; default: the first of /usr/bin/python3, python3,
# .venv/bin/python that is), DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR,
# FACEQA_REBUILD_BASE=1 (make the base again).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${FACEQA_BASE_IMAGE:-faceqa-base:bookworm}
APP_IMAGE=${FACEQA_IMAGE:-faceqa:latest}
POSTGRES_IMAGE=${FACEQA_POSTGRES_IMAGE:-faceqa-postgres:bookworm}
REDIS_IMAGE=${FACEQA_REDIS_IMAGE:-faceqa-redis:bookworm}
WHEEL_DIR=${FACEQA_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/faceqa/wheels}
WHEEL_PORT=${FACEQA_WHEEL_PORT:-8765}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# What the images run: Python 3.11 (Debian 12's, cp311 wheels) with venv and pip, the database and
# the broker. Everything else comes as wheels: PyAV bundles FFmpeg, opencv-python-headless needs no
# libGL, torch bundles libgomp, psycopg[binary] bundles libpq; they need only libc, libstdc++ and zlib.
PACKAGES="python3 python3-venv ca-certificates tzdata postgresql redis-server"

step() { printf '[build-offline %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { printf '[build-offline] error: %s\n' "$*" >&2; exit 1; }

for tool in docker mmdebstrap; do
  command -v "$tool" >/dev/null || fail "$tool is missing (Debian: apt-get install docker.io mmdebstrap)"
done
docker info >/dev/null 2>&1 || fail "the Docker daemon does not answer (docker info)"
[ "$(id -u)" = 0 ] || fail "run as root (mmdebstrap builds the root file system as root)"

# --- 1. the base image ------------------------------------------------------------------------
# The label names the recipe: the packages, the mirrors and a number to raise when the mmdebstrap
# command below changes. Debian's security updates come with FACEQA_REBUILD_BASE=1.
recipe=1
base_hash=$(printf '%s\n' "$PACKAGES" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" "$recipe" | sha256sum | cut -c1-16)
have_hash=$(docker image inspect -f '{{ index .Config.Labels "faceqa.base" }}' "$BASE_IMAGE" 2>/dev/null || true)
if [ "$have_hash" = "$base_hash" ] && [ "${FACEQA_REBUILD_BASE:-0}" != 1 ]; then
  step "base image $BASE_IMAGE is up to date"
else
  step "building $BASE_IMAGE with mmdebstrap (Debian 12: $PACKAGES)"
  # No cluster at install time: the database image makes its own in its data volume
  # (docker/postgres-entrypoint.sh). No documentation, manual pages or apt lists in the image.
  mmdebstrap --variant=minbase --mode=root --format=tar \
    --include="${PACKAGES// /,}" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/faceqa.conf"' \
    --customize-hook='chroot "$1" python3 -m venv /opt/venv' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm - \
    "deb $DEBIAN_MIRROR bookworm main" \
    "deb $DEBIAN_MIRROR bookworm-updates main" \
    "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" \
  | docker import \
      --change 'ENV PATH=/opt/venv/bin:/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change "LABEL faceqa.base=$base_hash" \
      --change 'CMD ["/bin/bash"]' \
      --message "FaceQA base: Debian 12 by mmdebstrap ($PACKAGES)" \
      - "$BASE_IMAGE" >/dev/null
  step "base image $BASE_IMAGE: $(docker image inspect -f '{{ .Size }}' "$BASE_IMAGE" | numfmt --to=iec)"
fi

# --- 2. the wheels ----------------------------------------------------------------------------
# pip evaluates the requirements' environment markers on the interpreter that runs it, e.g. redis
# needs async-timeout on Python < 3.11.3 only: resolve with a Python of the image's exact version.
image_python=$(docker run --rm --network none "$BASE_IMAGE" python -c 'import platform; print(platform.python_version())')
HOST_PYTHON=""
for candidate in ${FACEQA_HOST_PYTHON:-} /usr/bin/python3 python3 .venv/bin/python; do
  if [ "$("$candidate" -c 'import platform, pip; print(platform.python_version())' 2>/dev/null)" = "$image_python" ]; then
    HOST_PYTHON=$candidate; break
  fi
done
[ -n "$HOST_PYTHON" ] || fail "no Python $image_python with pip on this host (the image's Python, to resolve \
the requirements as it will): set FACEQA_HOST_PYTHON (Debian 12: apt-get install python3-pip)"
mkdir -p "$WHEEL_DIR"
want="$(sha256sum requirements.txt | cut -d' ' -f1) python $image_python"
if [ "$(cat "$WHEEL_DIR/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  step "wheels in $WHEEL_DIR are up to date ($(du -sh "$WHEEL_DIR" | cut -f1))"
else
  # pip wheel: downloads every wheel (the host's pip configuration applies: its indexes, find-links
  # and constraints) and builds the one sdist (face_recognition_models) into a wheel, so that the
  # image installs with --no-index and builds nothing.
  step "fetching the wheels of requirements.txt for Python $image_python ($HOST_PYTHON) into $WHEEL_DIR (first time: several GB)"
  "$HOST_PYTHON" -m pip wheel --quiet --find-links "$WHEEL_DIR" -w "$WHEEL_DIR" -r requirements.txt \
    2> >(grep -v "^WARNING: Location .* is ignored: it is neither a file nor a directory" >&2)
  echo "$want" > "$WHEEL_DIR/.requirements.sha256"
  step "wheels: $(du -sh "$WHEEL_DIR" | cut -f1)"
fi

# --- 3. the app image ---------------------------------------------------------------------------
# A wheel server on loopback for the length of the build; the build's RUN steps share the host's
# network. The port is fixed (it is a build argument, part of Docker's cache key).
if (exec 3<>"/dev/tcp/127.0.0.1/$WHEEL_PORT") 2>/dev/null; then
  fail "127.0.0.1:$WHEEL_PORT is taken: set FACEQA_WHEEL_PORT to a free port"
fi
"$HOST_PYTHON" -m http.server --bind 127.0.0.1 --directory "$WHEEL_DIR" "$WHEEL_PORT" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$WHEEL_PORT") 2>/dev/null && break; sleep 0.1; done
step "building $APP_IMAGE (docker/Dockerfile on $BASE_IMAGE, wheels from 127.0.0.1:$WHEEL_PORT)"
docker build --force-rm --network host -f docker/Dockerfile -t "$APP_IMAGE" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --build-arg "FACEQA_CODE_VERSION=${FACEQA_CODE_VERSION:-$(git rev-parse --short HEAD 2>/dev/null || true)}" \
  --build-arg "PIP_INSTALL_ARGS=--no-index --find-links http://127.0.0.1:$WHEEL_PORT/" .
kill "$server" 2>/dev/null || true
trap - EXIT

# --- 4. the database and the broker -------------------------------------------------------------
step "building $POSTGRES_IMAGE and $REDIS_IMAGE (docker/services.Dockerfile on $BASE_IMAGE)"
docker build --force-rm -q -f docker/services.Dockerfile --target postgres -t "$POSTGRES_IMAGE" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" docker >/dev/null
docker build --force-rm -q -f docker/services.Dockerfile --target redis -t "$REDIS_IMAGE" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" docker >/dev/null

# A rebuild leaves the images it replaced untagged (a new requirements.txt: a whole new 7 GB one):
# remove those not used by a container.
docker image prune -f --filter label=faceqa.image >/dev/null
docker image prune -f --filter label=faceqa.base >/dev/null

step "done; start the stack with these images:"
echo "export FACEQA_BASE_IMAGE=$BASE_IMAGE FACEQA_IMAGE=$APP_IMAGE FACEQA_POSTGRES_IMAGE=$POSTGRES_IMAGE FACEQA_REDIS_IMAGE=$REDIS_IMAGE"
