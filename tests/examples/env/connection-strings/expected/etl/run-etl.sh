#!/bin/sh
# 레지스트리 ETL (Java) 실행
exec java $JAVA_OPTS -jar /opt/etl/registry-etl.jar \
  --source "jdbc:postgresql://pg-stg.corp:5432/registry?user=reg&password=${POSTGRES_PASSWORD}" \
  --batch-size 5000
