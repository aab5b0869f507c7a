#!/usr/bin/env bash
# 야간 백업 (cron)
set -euo pipefail
: "${MSSQL_SERVER:?}" "${MSSQL_DATABASE:?}"
STAMP=$(date +%Y%m%d)
sqlcmd -S "$MSSQL_SERVER,$MSSQL_PORT" -U "$MSSQL_USER" -P "$MSSQL_PASSWORD" -C \
  -Q "BACKUP DATABASE [$MSSQL_DATABASE] TO DISK = N'/var/opt/mssql/backup/${MSSQL_DATABASE}_${STAMP}.bak'"
