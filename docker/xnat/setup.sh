#!/bin/sh
# One-shot provisioning of the XNAT beside the gateway (service xnat-setup in docker-compose.yml):
# site initialised, the hospital and quarantine projects with auto-archive, XNAT's own DICOM
# receiver moved to AE XNAT on port 8105. Every `docker compose up` runs it again, so each step
# looks first and changes only what is missing: what an administrator changed later is kept.
set -eu

xnat=${XNAT_URL:-http://xnat-web:8080}
admin=${XNAT_ADMIN_USER:-admin}
hospital=${HOSPITAL_PROJECT:-HOSPITAL}
quarantine=${QUARANTINE_PROJECT:-QUARANTINE}
quarantine_code=${QUARANTINE_PREARCHIVE_CODE:-4}
scp_ae=${SCP_AE_TITLE:-XNAT}
scp_port=${SCP_PORT:-8105}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
body=$work/body

say() { echo "xnat-setup: $*"; }
die() { echo "xnat-setup: $*" >&2; exit 1; }
# A value inside double quotes, for curl's config file and for JSON alike: escape \ and ".
quote() { printf '%s' "$1" | sed 's/[\\"]/\\&/g'; }

# The password reaches curl through a config file, not its command line, where every user of the
# Docker host could read it with ps.
[ -r "${XNAT_ADMIN_PASSWORD_FILE:?}" ] || die "cannot read $XNAT_ADMIN_PASSWORD_FILE (docs/docker.md, first start)."
(umask 077 && printf 'user = "%s:%s"\n' "$(quote "$admin")" "$(quote "$(cat "$XNAT_ADMIN_PASSWORD_FILE")")" > "$work/auth")

# call METHOD PATH [curl options]: prints the HTTP status (000: no answer); the body goes to $body.
call() {
  method=$1 path=$2
  shift 2
  curl -q -sS -K "$work/auth" -o "$body" -w '%{http_code}' -X "$method" "$@" "$xnat$path" || true
}
json() { call "$1" "$2" -H 'Content-Type: application/json' --data "$3"; }
ok() { case $1 in 2??) return 0 ;; *) return 1 ;; esac; }
fail() { die "$2: HTTP $1 $(head -c 400 "$body" 2>/dev/null || true)"; }

# Until the site is initialised XNAT refuses every other path to Basic-auth callers, so this one
# doubles as the readiness probe. Healthy (Tomcat answers) can precede the REST API by a little.
# A 401 is final: retrying a wrong password only counts towards locking the account.
tries=0
while :; do
  status=$(call GET /xapi/siteConfig/initialized)
  case $status in
    200) break ;;
    401) die "XNAT refused user $admin. Changed the admin password? Put the new one in secrets/xnat-admin-password." ;;
  esac
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || fail "$status" "XNAT at $xnat did not become ready in 5 minutes"
  sleep 5
done

# 1. The settings of XNAT's first-start setup page; "initialized" is applied last by XNAT itself.
if grep -q true "$body"; then
  say "site already initialised; its settings are left as they are."
else
  status=$(json POST /xapi/siteConfig "$(printf '{"siteId":"%s","siteUrl":"%s","adminEmail":"%s",%s"initialized":true}' \
    "$(quote "${XNAT_SITE_ID:-XNAT}")" "$(quote "${XNAT_SITE_URL:-http://localhost}")" "$(quote "${XNAT_ADMIN_EMAIL:-admin@example.org}")" \
    '"archivePath":"/data/xnat/archive","prearchivePath":"/data/xnat/prearchive","cachePath":"/data/xnat/cache","buildPath":"/data/xnat/build","ftpPath":"/data/xnat/ftp","pipelinePath":"/data/xnat/pipeline",')")
  ok "$status" || fail "$status" "initialising the site"
  # XNAT turns "initialized" on after the other settings; /data answers only from then on.
  tries=0
  until [ "$(call GET /xapi/siteConfig/initialized)" = 200 ] && grep -q true "$body"; do
    tries=$((tries + 1))
    [ "$tries" -lt 12 ] || die "XNAT did not report the site initialised within a minute."
    sleep 5
  done
  say "site initialised (site URL ${XNAT_SITE_URL:-http://localhost})."
fi

# 2. The projects the gateway routes to, with their archive setting (prearchive_code: 0 = stay in
#    the prearchive, 4 = auto-archive, 5 = auto-archive with overwrite). Re-setting it is harmless.
project() {
  p=$1 code=$2
  status=$(call GET "/data/projects/$p?format=json")
  case $status in
    200) ;;
    404)
      status=$(call PUT "/data/archive/projects/$p")
      ok "$status" || fail "$status" "creating project $p"
      say "created project $p." ;;
    *) fail "$status" "looking up project $p" ;;
  esac
  status=$(call PUT "/data/projects/$p/prearchive_code/$code")
  ok "$status" || fail "$status" "setting prearchive_code $code on project $p"
  say "project $p: prearchive_code $code."
}
project "$hospital" 4
project "$quarantine" "$quarantine_code"

# 3. XNAT's DICOM receiver, where the gateway's xnat-dimse sink sends: port 8105, never published,
#    so scanners cannot get around the gateway. A fresh XNAT has receiver 1 on 8104; it is moved
#    (DASHER does the same). 404: receiver 1 was deleted, so a new one is created.
status=$(call GET "/xapi/dicomscp/title/$scp_ae/$scp_port")
if [ "$status" = 200 ] && grep -q '"enabled": *true' "$body"; then
  say "DICOM receiver $scp_ae:$scp_port already enabled."
else
  receiver=$(printf '{"aeTitle":"%s","enabled":true,"id":1,"identifier":"dicomObjectIdentifier","port":%s}' "$(quote "$scp_ae")" "$scp_port")
  status=$(json PUT /xapi/dicomscp/1 "$receiver")
  if [ "$status" = 404 ]; then status=$(json POST /xapi/dicomscp "$receiver"); fi
  ok "$status" || fail "$status" "configuring the DICOM receiver $scp_ae:$scp_port"
  say "DICOM receiver $scp_ae:$scp_port configured."
fi

say "done."
