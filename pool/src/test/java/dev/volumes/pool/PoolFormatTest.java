package dev.volumes.pool;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HexFormat;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The worked examples of docs/pool-format.md: the test reads the hex dumps out of the document
 * and asserts that the encoders produce exactly those bytes and the decoders read them back.
 */
class PoolFormatTest {

    static final UUID UUID_EXAMPLE = UUID.fromString("00112233-4455-6677-8899-aabbccddeeff");

    static Superblock exampleSuperblock() {
        return new Superblock(UUID_EXAMPLE, 6, 4096, 256, 16, 9, 1, 2, 3, 12, 1_764_000_000_000L,
                1_764_000_060_000L, "demo");
    }

    /** Generation 8, the first commit after an open that fell back from generation 7 to 6. */
    static Superblock exampleSuperblockAfterFallback() {
        return new Superblock(UUID_EXAMPLE, 8, 4096, 256, 16, 9, 1, 2, 3, 12, 1_764_000_000_000L,
                1_764_000_060_000L, "demo", 6);
    }

    static ByteBuffer exampleNode() {
        ByteBuffer b = MetaBlock.allocate(4096);
        long tag = MetaBlock.poolTag(UUID_EXAMPLE);
        MetaBlock.putHeader(b, MetaBlock.TYPE_MAP, 0, 7, 1, 6, tag, MetaBlock.fanout(4096), 0);
        b.putLong(MetaBlock.HEADER, 10);
        b.putLong(MetaBlock.HEADER + 16, 11);
        MetaBlock.seal(b);
        return b;
    }

    static CatalogEntry exampleEntry() {
        return new CatalogEntry(2, 1, 7, 1 << 20, Instant.ofEpochSecond(1_764_000_030L, 5), VolumeKind.SNAPSHOT, 1,
                "vm@1", "vm", 1);
    }

    private static String doc() throws IOException {
        Path p = Path.of("../docs/pool-format.md");
        if (!Files.exists(p)) {
            p = Path.of("docs/pool-format.md");
        }
        return Files.readString(p);
    }

    /** The hex bytes of the fenced block that follows the marker {@code <!-- example: name -->}. */
    private static byte[] example(String doc, String name) {
        Matcher m = Pattern.compile("<!-- example: " + name + " -->\\s*```text\\n(.*?)```", Pattern.DOTALL).matcher(doc);
        assertThat(m.find()).as("docs/pool-format.md has example " + name).isTrue();
        StringBuilder hex = new StringBuilder();
        for (String line : m.group(1).split("\n")) {
            String bytes = line.replaceFirst("^[0-9a-f]{4}:", "").trim();
            hex.append(bytes.replace(" ", ""));
        }
        return HexFormat.of().parseHex(hex.toString());
    }

    static String dump(ByteBuffer b, int length) {
        StringBuilder out = new StringBuilder();
        for (int off = 0; off < length; off += 16) {
            out.append(String.format("%04x:", off));
            for (int i = off; i < off + 16 && i < length; i++) {
                out.append(String.format(" %02x", b.get(i)));
            }
            out.append('\n');
        }
        return out.toString();
    }

    @Test
    void superblockExampleMatchesTheDocument() throws IOException {
        ByteBuffer encoded = exampleSuperblock().encode();
        byte[] want = example(doc(), "superblock");
        byte[] have = new byte[Superblock.RECORD_SIZE];
        encoded.get(0, have);
        assertThat(have).as("actual bytes:\n" + dump(encoded, Superblock.RECORD_SIZE)).isEqualTo(want);
        assertThat(Superblock.decode("doc", encoded, 2)).isEqualTo(exampleSuperblock());
    }

    @Test
    void superblockAfterFallbackExampleMatchesTheDocument() throws IOException {
        ByteBuffer encoded = exampleSuperblockAfterFallback().encode();
        byte[] want = example(doc(), "superblock-after-fallback");
        byte[] have = new byte[Superblock.RECORD_SIZE];
        encoded.get(0, have);
        assertThat(have).as("actual bytes:\n" + dump(encoded, Superblock.RECORD_SIZE)).isEqualTo(want);
        Superblock decoded = Superblock.decode("doc", encoded, 0);
        assertThat(decoded).isEqualTo(exampleSuperblockAfterFallback());
        assertThat(decoded.fallbackGeneration()).isEqualTo(6);
        assertThat(exampleSuperblock().fallbackGeneration()).isEqualTo(5);
    }

    @Test
    void mapNodeExampleMatchesTheDocument() throws IOException {
        ByteBuffer node = exampleNode();
        byte[] want = example(doc(), "map-node");
        byte[] have = new byte[want.length];
        node.get(0, have);
        assertThat(have).as("actual bytes:\n" + dump(node, 96)).isEqualTo(want);
        MetaBlock.Header h = MetaBlock.verify("doc", node, 7, MetaBlock.TYPE_MAP, 0, MetaBlock.poolTag(UUID_EXAMPLE), 6);
        assertThat(h.owner()).isEqualTo(1);
    }

    @Test
    void catalogRecordExampleMatchesTheDocument() throws IOException {
        ByteBuffer b = MetaBlock.allocate(4096);
        exampleEntry().encode(b, 0);
        byte[] want = example(doc(), "catalog-record");
        byte[] have = new byte[CatalogEntry.SIZE];
        b.get(0, have);
        assertThat(have).as("actual bytes:\n" + dump(b, CatalogEntry.SIZE)).isEqualTo(want);
        assertThat(CatalogEntry.decode("doc", 9, b, 0)).isEqualTo(exampleEntry());
    }
}
