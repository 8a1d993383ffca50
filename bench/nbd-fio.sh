#!/usr/bin/env bash
# Side-by-side fio (nbd engine) benchmark of our NBD server against nbdkit and qemu-nbd, in one run:
#   ours(FileDevice)  vs  nbdkit file  vs  qemu-nbd   on the same raw file
#   ours(MemoryDevice) vs nbdkit memory
# Jobs: 4 KiB randread/randwrite at QD1 and QD32, 1 MiB sequential read/write at QD8, after a
# 8 s unmeasured warm-up per server (4 KiB and 1 MiB random read/write; JIT for our JVM).
# Prints IOPS, MB/s and p99 completion latency per job and server, and the ratios
# ours/qemu-nbd and ours/nbdkit. This is a benchmark, not a test: nothing is asserted.
# Usage: bench/nbd-fio.sh [RUNTIME_SECONDS=10] [SIZE_MIB=1024]
# Optional filters (space-separated names) for quick A/B runs:
#   NBD_BENCH_SERVERS="ours-mem nbdkit-mem"  NBD_BENCH_JOBS="randread-4k-qd1 randwrite-4k-qd1"
# and JVM options for our server, e.g. OURS_JAVA_OPTS=-Dvolumes.nbd.platformReader=true (the
# one-processor reader, forced on) for an A/B run. NBD_BENCH_ROUNDS=N (default 1) runs every server N times, in turn
# (round 1: all servers, round 2: all servers, ...), and prints the median of each figure and the
# median, minimum and maximum of each round's ratio: on a shared machine one round's ratios swing by
# ±30 %, so a target is judged on the median ratio. NBD_BENCH_PIN=1 runs every server on CPU 1
# and fio on CPU 0 (taskset): per-core efficiency with less scheduling noise (a JVM with one CPU
# runs one carrier thread, so this handicaps designs that overlap work across cores).
# Needs: fio (with the nbd engine), nbdkit, qemu-utils, a JDK 25, Maven (builds the nbd module).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runtime=${1:-10}
size_mib=${2:-1024}
cd "$root"
. bin/lib/jdk.sh
for p in fio nbdkit qemu-nbd; do command -v "$p" >/dev/null || { echo "missing $p" >&2; exit 1; }; done
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "fio lacks the nbd engine" >&2; exit 1; }

export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -B -q -o -pl nbd -am package -DskipTests >/dev/null 2>&1 || mvn -B -q -pl nbd -am package -DskipTests
cp="$root/nbd/target/classes:$root/device/target/classes"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
img="$work/disk.raw"
truncate -s "${size_mib}M" "$img"
# Pre-fill so reads hit real data in every server.
dd if=/dev/urandom of="$img" bs=1M count="$size_mib" conv=notrunc,fsync status=none
# (fsync: otherwise the kernel writes back the fill during the first server's jobs, which then
# measure the writeback; every server also starts after a sync, below.)

wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

# Native access (FileDevice's fallocate/lseek, the socket low-water mark) and the socket descriptor
# the low-water mark needs (nbd/ReceiveLowWater); the volumes jar's manifest grants the same.
ours_flags="--enable-native-access=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED"
# Servers run one at a time (FileDevice and qemu-nbd both lock the image file).
declare -A cmd=(
  [ours-file]="java ${OURS_JAVA_OPTS:-} $ours_flags -cp $cp bench/NbdServe.java file $img 20801"
  [nbdkit-file]="nbdkit --exit-with-parent -f -i 127.0.0.1 -p 20802 file $img"
  [qemu-nbd]="qemu-nbd -f raw -x disk -b 127.0.0.1 -p 20803 -t --cache=writeback $img"
  [ours-mem]="java ${OURS_JAVA_OPTS:-} $ours_flags -cp $cp bench/NbdServe.java memory $((size_mib << 20)) 20804"
  [nbdkit-mem]="nbdkit --exit-with-parent -f -i 127.0.0.1 -p 20805 memory ${size_mib}M")
declare -A port=([ours-file]=20801 [nbdkit-file]=20802 [qemu-nbd]=20803 [ours-mem]=20804 [nbdkit-mem]=20805)
declare -A uri=(
  [ours-file]="nbd://127.0.0.1:20801/disk" [nbdkit-file]="nbd://127.0.0.1:20802/"
  [qemu-nbd]="nbd://127.0.0.1:20803/disk" [ours-mem]="nbd://127.0.0.1:20804/disk"
  [nbdkit-mem]="nbd://127.0.0.1:20805/")
servers=(ours-file nbdkit-file qemu-nbd ours-mem nbdkit-mem)
if [[ -n ${NBD_BENCH_SERVERS:-} ]]; then read -r -a servers <<<"$NBD_BENCH_SERVERS"; fi
jobs=(
  "randread-4k-qd1 --rw=randread --bs=4k --iodepth=1"
  "randread-4k-qd32 --rw=randread --bs=4k --iodepth=32"
  "randwrite-4k-qd1 --rw=randwrite --bs=4k --iodepth=1"
  "randwrite-4k-qd32 --rw=randwrite --bs=4k --iodepth=32"
  "seqread-1m-qd8 --rw=read --bs=1m --iodepth=8"
  "seqwrite-1m-qd8 --rw=write --bs=1m --iodepth=8"
)

if [[ -n ${NBD_BENCH_JOBS:-} ]]; then
  selected=()
  for job in "${jobs[@]}"; do
    [[ " $NBD_BENCH_JOBS " == *" ${job%% *} "* ]] && selected+=("$job")
  done
  jobs=("${selected[@]}")
fi

rounds=${NBD_BENCH_ROUNDS:-1}
server_pin=(); fio_pin=()
if [[ ${NBD_BENCH_PIN:-0} == 1 ]]; then server_pin=(taskset -c 1); fio_pin=(taskset -c 0); fi
results="$work/results.tsv"
: >"$results"
for round in $(seq 1 "$rounds"); do
for s in "${servers[@]}"; do
  sync # the previous server's dirty pages are written back before this one is measured
  # shellcheck disable=SC2086
  ${server_pin[@]} ${cmd[$s]} >"$work/$s.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_port "${port[$s]}" || { cat "$work/$s.log" >&2; exit 1; }
  if [[ $s == ours-mem || $s == nbdkit-mem ]]; then # fill the memory disks so reads hit data
    fio --name=fill --ioengine=nbd --uri="${uri[$s]}" --rw=write --bs=1m --iodepth=8 --size="$((size_mib / 2))m" \
        --output-format=terse >/dev/null
  fi
  # Warm-up (JIT for our JVM, caches for everyone), not measured: both request shapes, so no
  # job measures the compilation of its own path.
  for bs in 4k 1m; do
    fio --name=warmup --ioengine=nbd --uri="${uri[$s]}" --rw=randrw --bs=$bs --iodepth=8 --size="$((size_mib / 2))m" \
        --time_based --runtime=4 --output-format=terse >/dev/null
  done
  for job in "${jobs[@]}"; do
    name=${job%% *}; args=${job#* }
    # shellcheck disable=SC2086
    "${fio_pin[@]}" fio --name="$name" --ioengine=nbd --uri="${uri[$s]}" $args --size="$((size_mib / 2))m" \
        --time_based --runtime="$runtime" --ramp_time=1 --output-format=json >"$work/$s-$name.json" 2>"$work/$s-$name.err" \
      || { echo "fio failed for $s $name: $(cat "$work/$s-$name.err")" >&2; exit 1; }
    /usr/bin/python3 - "$work/$s-$name.json" "$s" "$name" "$round" >>"$results" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
j = json.loads(text[text.index("{"):])["jobs"][0]  # fio may print notices before the JSON
side = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
p99 = side.get("clat_ns", {}).get("percentile", {}).get("99.000000", 0) / 1000.0
print("%s\t%s\t%s\t%.0f\t%.1f\t%.0f" % (sys.argv[4], sys.argv[3], sys.argv[2], side["iops"], side["bw_bytes"] / 1e6, p99))
PY
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
done

/usr/bin/python3 - "$results" "$rounds" <<'PY'
import sys, collections, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
rounds = int(sys.argv[2])
by = collections.defaultdict(lambda: collections.defaultdict(dict))  # job -> server -> round -> figures
for rnd, job, server, iops, mbs, p99 in rows:
    by[job][server][int(rnd)] = (float(iops), float(mbs), float(p99))
med = lambda xs: statistics.median(xs) if xs else 0.0
print("%-18s %-12s %10s %9s %10s" % ("job", "server", "IOPS", "MB/s", "p99(us)")
      + ("   (medians of %d rounds)" % rounds if rounds > 1 else ""))
for job, servers in by.items():
    for s, per in servers.items():
        print("%-18s %-12s %10.0f %9.1f %10.0f" % (job, s, *(med([f[i] for f in per.values()]) for i in range(3))))
print()
def ratio(per, a, b):
    rs = sorted(per[a][r][0] / per[b][r][0] for r in per.get(a, {}) if per.get(b, {}).get(r, (0,))[0])
    if not rs:
        return "n/a"
    if len(rs) == 1:
        return "%.2fx" % rs[0]
    return "%.2fx (%.2f-%.2f)" % (med(rs), rs[0], rs[-1])
w = 16 if rounds == 1 else 22
print(("%-18s" + (" %" + str(w) + "s") * 3) % ("job", "file: ours/qemu", "file: ours/nbdkit", "mem: ours/nbdkit"))
for job, per in by.items():
    print(("%-18s" + (" %" + str(w) + "s") * 3) % (job, ratio(per, "ours-file", "qemu-nbd"),
          ratio(per, "ours-file", "nbdkit-file"), ratio(per, "ours-mem", "nbdkit-mem")))
PY
