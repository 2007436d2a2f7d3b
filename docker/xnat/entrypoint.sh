#!/bin/sh
# Starts XNAT in the xnat-web container: writes xnat-conf.properties, waits for PostgreSQL, runs Tomcat.
set -eu
: "${XNAT_HOME:?}" "${XNAT_DB_HOST:?}" "${XNAT_DATASOURCE_NAME:?}" "${XNAT_DATASOURCE_USERNAME:?}" "${XNAT_DATASOURCE_PASSWORD:?}"

# Rendered here rather than at build time (as XDC does) so the database password never sits in an
# image layer. Only the named variables are substituted; the file is for root's eyes only.
(
  umask 077
  envsubst '${XNAT_DB_HOST} ${XNAT_DATASOURCE_NAME} ${XNAT_DATASOURCE_USERNAME} ${XNAT_DATASOURCE_PASSWORD}' \
    < /usr/local/share/xnat/xnat-conf.properties > "$XNAT_HOME/config/xnat-conf.properties"
)

# Compose starts xnat-web only once xnat-db is healthy, but Docker's restart policy (after a reboot)
# does not wait, and an XNAT that starts without its database fails to deploy and stays down.
until pg_isready -q -h "$XNAT_DB_HOST" -d "$XNAT_DATASOURCE_NAME" -U "$XNAT_DATASOURCE_USERNAME"; do
  echo "Waiting for PostgreSQL at $XNAT_DB_HOST ..." >&2
  sleep 5
done

# exec: Tomcat becomes PID 1 and gets Docker's SIGTERM itself.
exec catalina.sh run
