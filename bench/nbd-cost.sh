#!/usr/bin/env bash
# Per-request server cost that a busy machine distorts less than IOPS: context switches (all
# threads of the server process) and CPU time per request, measured over a window in the middle
# of a running fio job, for our server (MemoryDevice) with and without the platform reader, and
# nbdkit memory. Usage: bench/nbd-cost.sh [ROUNDS=2]
# Prints: server, job, switches/request, CPU µs/request, IOPS during the run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${1:-2}
cd "$root"
. bin/lib/jdk.sh
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -B -q -o -pl nbd -am package -DskipTests >/dev/null 2>&1 || mvn -B -q -pl nbd -am package -DskipTests
cp="$root/nbd/target/classes:$root/device/target/classes"
tck=$(getconf CLK_TCK)
snap() { # switches cpu_ticks
  local cs=0 v
  for t in /proc/"$1"/task/*; do
    v=$(awk '/^(non)?voluntary_ctxt_switches/ {s+=$2} END {print s+0}' "$t/status" 2>/dev/null || echo 0)
    cs=$((cs + v))
  done
  echo "$cs $(awk '{print $14+$15}' /proc/"$1"/stat)"
}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
measure() { # name pid uri
  for job in "randread 1" "randwrite 1" "randread 32" "randwrite 32"; do
    set -- "$1" "$2" "$3" $job
    fio --name=c --ioengine=nbd --uri="$3" --rw="$4" --bs=4k --iodepth="$5" --size=128m --time_based --runtime=6 \
        --output-format=terse >/tmp/nbd-cost.$$ 2>/dev/null &
    fpid=$!
    sleep 2; read -r c0 t0 < <(snap "$2"); sleep 3; read -r c1 t1 < <(snap "$2")
    wait "$fpid"
    iops=$(grep '^3;' /tmp/nbd-cost.$$ | awk -F';' -v rw="$4" '{print (rw=="randread") ? $8 : $49}')
    python3 -c "n=$iops*3.0; print('%-16s %-9s qd%-3s %6.2f switches/req %6.1f us CPU/req %7d IOPS' % ('$1', '$4', '$5', ($c1-$c0)/n, ($t1-$t0)/$tck*1e6/n, $iops))"
  done
}
for r in $(seq 1 "$rounds"); do
  for mode in true false; do
    java -Dvolumes.nbd.platformReader=$mode -cp "$cp" bench/NbdServe.java memory $((256 << 20)) 20821 >/dev/null 2>&1 &
    spid=$!; pids+=("$spid"); wait_port 20821
    jpid=$spid
    fio --name=w --ioengine=nbd --uri=nbd://127.0.0.1:20821/disk --rw=randrw --bs=4k --iodepth=8 --size=128m \
        --time_based --runtime=5 --output-format=terse >/dev/null 2>&1
    measure "ours-platform=$mode" "$jpid" nbd://127.0.0.1:20821/disk
    kill "$spid"; wait "$spid" 2>/dev/null || true
  done
  nbdkit --exit-with-parent -f -i 127.0.0.1 -p 20822 memory 256M & npid=$!; pids+=("$npid"); wait_port 20822
  measure nbdkit-memory "$npid" nbd://127.0.0.1:20822/
  kill "$npid"; wait "$npid" 2>/dev/null || true
done
rm -f /tmp/nbd-cost.$$
