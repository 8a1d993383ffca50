#!/usr/bin/env bash
# Replication benchmark: write IOPS/throughput/p99 with 1, 2, 3 replicas on loopback vs a single
# local pool volume, and delta vs full rebuild of a 4 GiB pool-volume replica (full = the same
# allocated volume forced to a full resync, like for like). Prints Markdown tables.
# Usage: bench/replication.sh [writes|rebuild|all] [seconds per write run, default 5]
#          [size=4g] [region=1m] [blank=true]
#   size: data size of the rebuild set; region: activity-log region size (bytes per dirty bit);
#   blank=true: also a full rebuild onto a new empty pool volume (another size of disk).
# BENCH_QUICK=1: smoke run with tiny sizes (numbers meaningless).
# Needs ~2.3 x size free in java.io.tmpdir for the rebuild part (3.4 x with blank=true); the
# files are deleted afterwards.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=../bin/lib/jdk.sh
. "$root/bin/lib/jdk.sh"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -B -q -o -pl bench -am package -DskipTests
exec java --enable-native-access=ALL-UNNAMED -Xmx2g -cp bench/target/benchmarks.jar \
  dev.volumes.bench.ReplicationBench "${1:-all}" "${2:-5}" "${@:3}"
