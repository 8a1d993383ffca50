import dev.volumes.nbd.NbdClient;
import dev.volumes.nbd.NbdDevice;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Drives our NBD client the way fio and nbdcopy drive libnbd, for bench/nbd-client.sh:
 * {@code java -cp CLASSES bench/NbdClientBench.java URI MODE BS QD CONNECTIONS SECONDS}.
 * MODE: randread | randwrite | read | write (time-bound, QD virtual threads on the connections,
 * sequential modes share one advancing offset and wrap, like fio), copyread | copywrite (the whole
 * export once, like nbdcopy to null: / from a file). A warm-up of a third of the time (at least
 * 2 s) runs first in the same JVM and is not measured. Prints one line: MODE bytes seconds MB/s IOPS.
 */
public class NbdClientBench {
    public static void main(String[] args) throws Exception {
        String uri = args[0];
        String mode = args[1];
        int bs = Integer.parseInt(args[2]);
        int qd = Integer.parseInt(args[3]);
        int conns = Integer.parseInt(args[4]);
        double seconds = Double.parseDouble(args[5]);
        NbdClient.Builder builder = NbdClient.builder().uri(uri).connections(conns);
        String journal = System.getProperty("bench.replayJournal"); // bytes; 0 = off (A/B of its cost)
        if (journal != null) {
            builder.replayJournal(Long.parseLong(journal));
        }
        try (NbdDevice d = builder.open()) {
            long size = d.size();
            if (!mode.startsWith("copy")) {
                run(d, mode, bs, qd, Math.max(2, seconds / 3), size); // warm-up
            } else {
                run(d, mode.equals("copyread") ? "read" : "write", bs, qd, 2, size);
            }
            long t0 = System.nanoTime();
            long[] r = run(d, mode, bs, qd, seconds, size);
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf("%s %d %.3f %.1f %.0f%n", mode, r[0], s, r[0] / s / 1e6, r[1] / s);
        }
    }

    private static long[] run(NbdDevice d, String mode, int bs, int qd, double seconds, long size) throws Exception {
        boolean copy = mode.startsWith("copy");
        boolean write = mode.endsWith("write");
        boolean random = mode.startsWith("rand");
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        long blocks = size / bs;
        AtomicLong next = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        AtomicLong ops = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int t = 0; t < qd; t++) {
            int id = t;
            threads.add(Thread.ofVirtual().start(() -> {
                SplittableRandom rnd = new SplittableRandom(id * 7919L + 1);
                ByteBuffer buf = ByteBuffer.allocateDirect(bs);
                if (write) {
                    byte[] junk = new byte[bs];
                    new java.util.Random(id).nextBytes(junk);
                    buf.put(junk).flip();
                }
                try {
                    long n = 0;
                    while (true) {
                        long block;
                        if (random) {
                            block = rnd.nextLong(blocks);
                        } else {
                            long b = next.getAndIncrement();
                            if (copy && b >= blocks) {
                                break;
                            }
                            block = b % blocks;
                        }
                        if (!copy && (n++ & 15) == 0 && System.nanoTime() > deadline) {
                            break;
                        }
                        buf.clear();
                        if (write) {
                            d.write(buf, block * bs);
                        } else {
                            d.read(buf, block * bs);
                        }
                        bytes.addAndGet(bs);
                        ops.incrementAndGet();
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        if (!errors.isEmpty()) {
            throw new RuntimeException(errors.getFirst());
        }
        if (write && copy) {
            d.sync();
        }
        return new long[] {bytes.get(), ops.get()};
    }
}
