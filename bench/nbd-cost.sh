#!/usr/bin/env bash
# Per-request server cost that a busy machine distorts less than IOPS: context switches (all
# threads of the server process) and CPU time per request, measured over a window in the middle
# of a running fio job, for our server (MemoryDevice, or FileDevice) in one or more JVM-option
# variants, and nbdkit memory (or file). Variants and servers alternate within each round.
# Usage: bench/nbd-cost.sh [ROUNDS=2]
# Environment:
#   NBD_COST_JOBS      space-separated rw:bs:iodepth (default "randread:4k:1 randwrite:4k:1
#                      randread:4k:32 randwrite:4k:32"; e.g. "read:1m:8 write:1m:8")
#   NBD_COST_VARIANTS  '|'-separated JVM option sets for our server, one run each (default
#                      "-Dvolumes.nbd.platformReader=true|-Dvolumes.nbd.platformReader=false";
#                      an empty set is the defaults; put it first, "|-Dx=1", since
#                      bash drops a trailing empty field)
#   NBD_COST_PIN=1     servers on CPU 1, fio on CPU 0 (taskset; a JVM on one CPU has one carrier)
#   NBD_COST_DEVICE=file  serve a 256 MiB raw file (FileDevice vs nbdkit file) instead of memory
# Prints: server, job, switches/request, user and system CPU µs/request, IOPS during the run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${1:-2}
cd "$root"
. bin/lib/jdk.sh
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -B -q -o -pl nbd -am package -DskipTests >/dev/null 2>&1 || mvn -B -q -pl nbd -am package -DskipTests
cp="$root/nbd/target/classes:$root/device/target/classes"
read -r -a jobs <<<"${NBD_COST_JOBS:-randread:4k:1 randwrite:4k:1 randread:4k:32 randwrite:4k:32}"
IFS='|' read -r -a variants <<<"${NBD_COST_VARIANTS--Dvolumes.nbd.platformReader=true|-Dvolumes.nbd.platformReader=false}"
[[ ${#variants[@]} -gt 0 ]] || variants=("")
server_pin=(); fio_pin=()
if [[ ${NBD_COST_PIN:-0} == 1 ]]; then server_pin=(taskset -c 1); fio_pin=(taskset -c 0); fi
tck=$(getconf CLK_TCK)
out=$(mktemp)
img=$(mktemp)
ours_device=(memory $((256 << 20))); nbdkit_device=(memory 256M)
if [[ ${NBD_COST_DEVICE:-memory} == file ]]; then
  truncate -s 256M "$img"; ours_device=(file "$img"); nbdkit_device=(file "$img")
fi
snap() { # switches user_ticks system_ticks
  local cs=0 v
  for t in /proc/"$1"/task/*; do
    v=$(awk '/^(non)?voluntary_ctxt_switches/ {s+=$2} END {print s+0}' "$t/status" 2>/dev/null || echo 0)
    cs=$((cs + v))
  done
  echo "$cs $(awk '{print $14, $15}' /proc/"$1"/stat)"
}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -f "$out" "$img"' EXIT
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
warm() { # uri: fill half the disk so reads hit data, then both request shapes (JIT), unmeasured
  fio --name=fill --ioengine=nbd --uri="$1" --rw=write --bs=1m --iodepth=8 --size=128m >/dev/null 2>&1
  for bs in 4k 1m; do
    fio --name=w --ioengine=nbd --uri="$1" --rw=randrw --bs=$bs --iodepth=8 --size=128m --time_based --runtime=4 \
        >/dev/null 2>&1
  done
}
measure() { # name pid uri
  local name=$1 pid=$2 uri=$3 job rw bs qd fpid c0 u0 s0 c1 u1 s1 iops
  for job in "${jobs[@]}"; do
    IFS=: read -r rw bs qd <<<"$job"
    "${fio_pin[@]}" fio --name=c --ioengine=nbd --uri="$uri" --rw="$rw" --bs="$bs" --iodepth="$qd" --size=128m \
        --time_based --runtime=7 --output-format=terse >"$out" 2>/dev/null &
    fpid=$!
    sleep 2; read -r c0 u0 s0 < <(snap "$pid"); sleep 4; read -r c1 u1 s1 < <(snap "$pid")
    wait "$fpid"
    iops=$(grep '^3;' "$out" | awk -F';' -v rw="$rw" '{print (rw ~ /read/) ? $8 : $49}')
    python3 -c "n=$iops*4.0; print('%-44s %-9s %-3s qd%-3s %6.2f switches/req  user %6.1f  sys %6.1f us CPU/req %7d IOPS' % ('$name', '$rw', '$bs', '$qd', ($c1-$c0)/n, ($u1-$u0)/$tck*1e6/n, ($s1-$s0)/$tck*1e6/n, $iops))"
  done
}
for r in $(seq 1 "$rounds"); do
  for opts in "${variants[@]}"; do
    # shellcheck disable=SC2086
    "${server_pin[@]}" java $opts --enable-native-access=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED -cp "$cp" bench/NbdServe.java "${ours_device[@]}" 20821 >/dev/null 2>&1 &
    spid=$!; pids+=("$spid"); wait_port 20821
    warm nbd://127.0.0.1:20821/disk
    measure "ours ${opts:-(defaults)}" "$spid" nbd://127.0.0.1:20821/disk
    kill "$spid"; wait "$spid" 2>/dev/null || true
  done
  "${server_pin[@]}" nbdkit --exit-with-parent -f -i 127.0.0.1 -p 20822 "${nbdkit_device[@]}" & npid=$!; pids+=("$npid")
  wait_port 20822
  warm nbd://127.0.0.1:20822/
  measure "nbdkit-${nbdkit_device[0]}" "$npid" nbd://127.0.0.1:20822/
  kill "$npid"; wait "$npid" 2>/dev/null || true
done
