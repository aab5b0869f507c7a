#!/bin/bash
# 깨끗하게 재시작: 컨테이너 정리 → 레지스트리 DB 초기화 → 서비스 재기동
set -e

docker compose down --remove-orphans
docker compose up -d mssql
sleep 15

# 레지스트리 DB를 초기 상태로
/opt/mssql-tools18/bin/sqlcmd -S localhost,1433 -U sa -P "$MSSQL_SA_PASSWORD" -C -Q "DROP DATABASE IF EXISTS ModelRegistry; CREATE DATABASE ModelRegistry"

export MODEL_REGISTRY_URL="postgresql+psycopg://registry:${POSTGRES_PASSWORD_URLENCODED}@pg01.corp.local:5432/model_registry?sslmode=verify-full"
python backend/maintenance/model_registry.py --init

docker compose up -d backend
echo "backend restarted"
