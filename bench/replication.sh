#!/usr/bin/env bash
# Replication benchmark: write IOPS/throughput/p99 with 1, 2, 3 replicas on loopback vs a single
# local pool volume, and delta vs full rebuild of a 4 GiB replica. Prints Markdown tables.
# Usage: bench/replication.sh [writes|rebuild|all] [seconds per write run, default 5]
# Needs ~9 GiB free in java.io.tmpdir for the rebuild part (files are deleted afterwards).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=../bin/lib/jdk.sh
. "$root/bin/lib/jdk.sh"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -B -q -o -pl bench -am package -DskipTests
exec java --enable-native-access=ALL-UNNAMED -Xmx2g -cp bench/target/benchmarks.jar \
  dev.volumes.bench.ReplicationBench "${1:-all}" "${2:-5}"
