#!/usr/bin/env bash
# 모든 서비스를 로컬에서 시작합니다 (API, 워커, 인덱서).
set -euo pipefail
cd "$(dirname "$0")/.."

export RSL_DATABASE_URL="${RSL_DATABASE_URL:-sqlite+aiosqlite:///./data/rsl.db}"
mkdir -p data logs

# 스키마 최신화
alembic -x url=sqlite:///./data/rsl.db upgrade head

uvicorn chat.main:app --host 0.0.0.0 --port 8000 > logs/api.log 2>&1 &
echo $! > logs/api.pid

RSL_DATABASE_URL=sqlite+aiosqlite:///./data/rsl.db python -m chat.worker > logs/worker.log 2>&1 &
echo $! > logs/worker.pid

echo "started: api=$(cat logs/api.pid) worker=$(cat logs/worker.pid)"
