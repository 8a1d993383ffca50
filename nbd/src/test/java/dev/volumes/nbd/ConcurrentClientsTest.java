package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Seeds;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Stress harness: several connections each pipeline batches of random writes, write-zeroes and
 * trims into their own region (structured replies on half of them), then pipelined reads that
 * must match an in-memory model; replies arrive in any order and are matched by cookie. Seeded;
 * scaled by -Dvolumes.test.multiplier.
 */
class ConcurrentClientsTest {

    private static final int BLOCK = 4096;
    private static final int BLOCKS_PER_CLIENT = 256;

    /** Both reader designs: platform reader with hand-over to virtual readers, and virtual only. */
    @org.junit.jupiter.params.ParameterizedTest(name = "platformReader={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void pipelinedMixedTrafficFromManyConnectionsMatchesTheModel(boolean platformReader) throws Exception {
        String test = "ConcurrentClientsTest.pipelinedMixedTraffic";
        long seed = Seeds.forTest(test);
        int clients = 4;
        int rounds = Seeds.scaled(8);
        MemoryDevice disk = MemoryDevice.create("disk", (long) clients * BLOCKS_PER_CLIENT * BLOCK);
        try (NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0))
                .platformReader(platformReader).build();
                ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            server.addExport("disk", disk, null);
            server.start();
            List<Future<Void>> results = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                Callable<Void> task = () -> {
                    run(server, client, new Random(seed + client), rounds);
                    return null;
                };
                results.add(pool.submit(task));
            }
            for (Future<Void> f : results) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new AssertionError(Seeds.reproduceWith(test), e.getCause());
                }
            }
            assertThat(server.stats().exports().get("disk").errors()).isEmpty();
        }
        // every platform reader ended with its connection
        for (int i = 0; i < 500 && platformReaders() > 0; i++) {
            Thread.sleep(10);
        }
        assertThat(platformReaders()).isZero();
    }

    private static long platformReaders() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("nbd-conn-") && t.getName().endsWith("-reader")).count();
    }

    private static void run(NbdServer server, int client, Random random, int rounds) throws Exception {
        byte[][] model = new byte[BLOCKS_PER_CLIENT][BLOCK];
        long base = (long) client * BLOCKS_PER_CLIENT * BLOCK;
        boolean structured = client % 2 == 0;
        long cookie = 0;
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            if (structured) {
                c.option(Wire.OPT_STRUCTURED_REPLY, new byte[0]);
                assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            }
            c.go("disk");
            for (int round = 0; round < rounds; round++) {
                // Writes to distinct blocks, all in flight at once.
                List<Integer> blocks = new ArrayList<>();
                for (int i = 0; i < BLOCKS_PER_CLIENT; i++) {
                    blocks.add(i);
                }
                java.util.Collections.shuffle(blocks, random);
                int n = 1 + random.nextInt(48);
                for (int i = 0; i < n; i++) {
                    int b = blocks.get(i);
                    long offset = base + (long) b * BLOCK;
                    int kind = random.nextInt(10);
                    if (kind < 7) {
                        random.nextBytes(model[b]);
                        c.request(random.nextBoolean() ? Wire.CMD_FLAG_FUA : 0, Wire.CMD_WRITE, ++cookie, offset, BLOCK,
                                model[b]);
                    } else if (kind < 9) {
                        Arrays.fill(model[b], (byte) 0);
                        c.request(random.nextBoolean() ? Wire.CMD_FLAG_NO_HOLE : 0, Wire.CMD_WRITE_ZEROES, ++cookie,
                                offset, BLOCK, null);
                    } else {
                        // MemoryDevice reads zeros after discard (DISCARD_READS_ZEROES)
                        Arrays.fill(model[b], (byte) 0);
                        c.request(0, Wire.CMD_TRIM, ++cookie, offset, BLOCK, null);
                    }
                }
                for (int i = 0; i < n; i++) {
                    assertThat(c.simple()[0]).isZero(); // payload-free successes are simple replies
                }
                // Reads of every block, pipelined, matched by cookie.
                Map<Long, Integer> pending = new HashMap<>();
                for (int b = 0; b < BLOCKS_PER_CLIENT; b += 1 + random.nextInt(4)) {
                    pending.put(++cookie, b);
                    c.request(0, Wire.CMD_READ, cookie, base + (long) b * BLOCK, BLOCK, null);
                }
                int expected = pending.size();
                for (int i = 0; i < expected; i++) {
                    byte[] got = new byte[BLOCK];
                    long replyCookie;
                    if (structured) {
                        replyCookie = readStructured(c, base, pending, got);
                    } else {
                        long[] r = c.simple();
                        assertThat(r[0]).isZero();
                        replyCookie = r[1];
                        c.read(BLOCK).get(got);
                    }
                    Integer b = pending.remove(replyCookie);
                    assertThat(b).as("reply for an unknown cookie %d", replyCookie).isNotNull();
                    assertThat(got).as("block %d of client %d", b, client).isEqualTo(model[b]);
                }
                c.request(0, Wire.CMD_FLUSH, ++cookie, 0, 0, null);
                assertThat(c.simple()).containsExactly(0, cookie);
            }
            c.request(0, Wire.CMD_DISC, ++cookie, 0, 0, null);
        }
    }

    /** Reads all chunks of one structured read reply into {@code out}; returns its cookie. */
    private static long readStructured(RawClient c, long base, Map<Long, Integer> pending, byte[] out) throws Exception {
        while (true) {
            RawClient.Chunk chunk = c.chunk();
            Integer b = pending.get(chunk.cookie());
            assertThat(b).isNotNull();
            long blockStart = base + (long) b * BLOCK;
            ByteBuffer p = ByteBuffer.wrap(chunk.payload());
            switch (chunk.type()) {
                case Wire.REPLY_TYPE_OFFSET_DATA -> {
                    long off = p.getLong();
                    p.get(out, (int) (off - blockStart), p.remaining());
                }
                case Wire.REPLY_TYPE_OFFSET_HOLE -> {
                    long off = p.getLong();
                    Arrays.fill(out, (int) (off - blockStart), (int) (off - blockStart) + p.getInt(), (byte) 0);
                }
                case Wire.REPLY_TYPE_NONE -> { }
                default -> throw new AssertionError("unexpected chunk type " + chunk.type());
            }
            if ((chunk.flags() & Wire.REPLY_FLAG_DONE) != 0) {
                return chunk.cookie();
            }
        }
    }
}
