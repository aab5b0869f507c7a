#!/usr/bin/env bash
export REDIS_URL="redis://:${REDIS_PASSWORD}@localhost:6379/0"
exec python -m cache.warmup "$@"
