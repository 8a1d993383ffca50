package dev.volumes.nbd;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/** Lock-free per-export counters; {@link #snapshot} turns them into a public value. */
final class Counters {

    final LongAdder reads = new LongAdder();
    final LongAdder writes = new LongAdder();
    final LongAdder bytesRead = new LongAdder();
    final LongAdder bytesWritten = new LongAdder();
    final LongAdder flushes = new LongAdder();
    final LongAdder trims = new LongAdder();
    final LongAdder writeZeroes = new LongAdder();
    final LongAdder caches = new LongAdder();
    final LongAdder blockStatus = new LongAdder();
    final AtomicInteger connections = new AtomicInteger();
    final LongAdder totalConnections = new LongAdder();
    private final ConcurrentHashMap<String, LongAdder> errors = new ConcurrentHashMap<>();

    void error(int errno) {
        errors.computeIfAbsent(Errors.name(errno), k -> new LongAdder()).increment();
    }

    NbdServer.ExportStats snapshot(String name) {
        Map<String, Long> e = new TreeMap<>();
        errors.forEach((k, v) -> e.put(k, v.sum()));
        return new NbdServer.ExportStats(name, reads.sum(), writes.sum(), bytesRead.sum(), bytesWritten.sum(),
                flushes.sum(), trims.sum(), writeZeroes.sum(), caches.sum(), blockStatus.sum(), Map.copyOf(e),
                connections.get(), totalConnections.sum());
    }
}
