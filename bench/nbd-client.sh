#!/usr/bin/env bash
# Side-by-side benchmark of our NBD client (dev.volumes.nbd.NbdClient) against libnbd's clients,
# fio --ioengine=nbd and nbdcopy, all talking to the SAME `nbdkit memory` server in one run:
#   fio jobs      randread/randwrite 4 KiB QD32, read/write 1 MiB QD8 (1 connection each)
#   nbdcopy       whole export to null: (read) and from a file (write), 1 connection, 8 x 1 MiB requests
# Our client runs the same shapes (bench/NbdClientBench.java: QD virtual threads on one connection,
# a warm-up in the same JVM first). Prints MB/s per tool and the ratio ours/libnbd; each side
# runs twice, alternating, and the better run counts.
# This is a benchmark, not a test: nothing is asserted.
# Usage: bench/nbd-client.sh [RUNTIME_SECONDS=10] [SIZE_MIB=1024]
# OURS_JAVA_OPTS adds JVM options to our client (e.g. -Dvolumes.nbd.rcvlowat=false for an A/B).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runtime=${1:-10}
size_mib=${2:-1024}
cd "$root"
. bin/lib/jdk.sh
for p in fio nbdkit nbdcopy; do command -v "$p" >/dev/null || { echo "missing $p" >&2; exit 1; }; done
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -B -q -o -pl nbd -am package -DskipTests >/dev/null 2>&1 || mvn -B -q -pl nbd -am package -DskipTests
cp="$root/nbd/target/classes:$root/device/target/classes"

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=20810
nbdkit --exit-with-parent -f -i 127.0.0.1 -p $port memory "${size_mib}M" & pid=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
uri="nbd://127.0.0.1:$port/"
src="$work/src.raw"
head -c "$((size_mib << 20))" /dev/urandom >"$src"
nbdcopy "$src" "$uri"   # fill the server so reads return data

mb() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }
fio_job() { # name rw bs qd -> MB/s
  fio --name="$1" --ioengine=nbd --uri="$uri" --rw="$2" --bs="$3" --iodepth="$4" --numjobs=1 \
      --time_based --runtime="$runtime" --ramp_time=2 --size="${size_mib}M" --output-format=json >"$work/fio.json" \
      2>"$work/fio.err" || { echo "fio failed: $(cat "$work/fio.err")" >&2; exit 1; }
  /usr/bin/python3 -c 'import json,sys; t=open(sys.argv[1]).read(); j=json.loads(t[t.index("{"):])["jobs"][0]; print("%.1f" % ((j["read"]["bw_bytes"]+j["write"]["bw_bytes"])/1e6))' "$work/fio.json"
}
ours() { # mode bs qd seconds -> MB/s
  # shellcheck disable=SC2086
  java ${OURS_JAVA_OPTS:-} --enable-native-access=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED -cp "$cp" bench/NbdClientBench.java "$uri" "$1" "$2" "$3" 1 "$4" | awk '{print $4}'
}
nbdcopy_job() { # read|write -> MB/s
  local t0 t1
  t0=$(date +%s.%N)
  if [ "$1" = read ]; then
    nbdcopy --connections=1 --requests=8 --request-size=$((1 << 20)) --no-extents "$uri" null:
  else
    nbdcopy --connections=1 --requests=8 --request-size=$((1 << 20)) --flush "$src" "$uri"
  fi
  t1=$(date +%s.%N)
  mb "$((size_mib << 20))" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
}

best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
printf '| workload | libnbd tool | libnbd MB/s | ours MB/s | ours / libnbd |\n|---|---|---:|---:|---:|\n'
# Each side runs twice, alternating (libnbd, ours, libnbd, ours); the better run of each counts,
# which damps the noise of a shared machine without favouring either side.
row() { # label tool "libnbd command" "ours command"
  local l1 o1 l2 o2 l o
  l1=$(eval "$3"); o1=$(eval "$4"); l2=$(eval "$3"); o2=$(eval "$4")
  l=$(best "$l1" "$l2"); o=$(best "$o1" "$o2")
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$l" "$o" "$(awk -v a="$o" -v b="$l" 'BEGIN { printf "%.2f", a / b }')"
}
row "random read 4 KiB QD32" "fio nbd" 'fio_job rr randread 4k 32' 'ours randread 4096 32 "$runtime"'
row "random write 4 KiB QD32" "fio nbd" 'fio_job rw randwrite 4k 32' 'ours randwrite 4096 32 "$runtime"'
row "sequential read 1 MiB QD8" "fio nbd" 'fio_job sr read 1m 8' 'ours read $((1 << 20)) 8 "$runtime"'
row "sequential write 1 MiB QD8" "fio nbd" 'fio_job sw write 1m 8' 'ours write $((1 << 20)) 8 "$runtime"'
row "copy whole export to null: (read)" "nbdcopy" 'nbdcopy_job read' 'ours copyread $((1 << 20)) 8 0'
row "copy a file onto the export (write)" "nbdcopy" 'nbdcopy_job write' 'ours copywrite $((1 << 20)) 8 0'
