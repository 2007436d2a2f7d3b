#!/bin/sh
# First start of xnat-db only (/docker-entrypoint-initdb.d runs on an empty data directory):
# creates XNAT's login role and makes it the owner of XNAT's database, as XDC's postgres/XNAT.sql
# does. psql's :"name" and :'value' quote the values, so any user name and password work.
# No `set -u` here: the postgres entrypoint sources this file when it is not executable.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v xnat_user="$XNAT_DATASOURCE_USERNAME" -v xnat_password="$XNAT_DATASOURCE_PASSWORD" -v xnat_db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"xnat_user" WITH LOGIN PASSWORD :'xnat_password';
-- Owning the database also gives the role the public schema (pg_database_owner, PostgreSQL 15+).
ALTER DATABASE :"xnat_db" OWNER TO :"xnat_user";
SQL
