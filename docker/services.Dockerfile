# The database and the broker from the offline base image (docker/build-offline.sh): Debian 12's
# PostgreSQL 15 and Redis 7.0 packages, standing in for the official postgres:16 and redis:7 images
# with the same volumes, environment and commands in docker/compose.yaml.
ARG BASE_IMAGE=faceqa-base:bookworm

FROM ${BASE_IMAGE} AS postgres
LABEL faceqa.image=postgres
ENV PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
# An empty named volume takes this folder's owner and mode.
RUN mkdir -p "$PGDATA" /run/postgresql && chown postgres:postgres "$PGDATA" /run/postgresql && chmod 700 "$PGDATA"
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres"]

FROM ${BASE_IMAGE} AS redis
LABEL faceqa.image=redis
RUN mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
