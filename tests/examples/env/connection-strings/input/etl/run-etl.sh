#!/bin/sh
# 레지스트리 ETL (Java) 실행
exec java $JAVA_OPTS -jar /opt/etl/registry-etl.jar \
  --source "jdbc:sqlserver://sql-stg.corp:1433;databaseName=registry;user=reg;password=${REGISTRY_DB_PASSWORD}" \
  --batch-size 5000
