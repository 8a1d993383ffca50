package dev.volumes.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.testkit.Seeds;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link NodeTable} against a {@link HashMap} model under random puts, removes and lookups. */
class NodeTableTest {

    @Test
    void behavesLikeAMapUnderRandomOperations() {
        String test = "NodeTableTest#behavesLikeAMapUnderRandomOperations";
        long seed = Seeds.forTest(test);
        Random rnd = new Random(seed);
        NodeTable table = new NodeTable();
        Map<Long, Node> model = new HashMap<>();
        int ops = Seeds.scaled(200_000);
        try {
            for (int i = 0; i < ops; i++) {
                // a small key space forces collisions, long probe runs and wrap-around shifts
                long key = 1 + rnd.nextInt(i % 3 == 0 ? 50 : 5_000);
                switch (rnd.nextInt(3)) {
                    case 0 -> {
                        Node n = new Node(key, 0, 1, new long[0], false);
                        assertThat(table.put(key, n)).isSameAs(model.put(key, n));
                    }
                    case 1 -> assertThat(table.remove(key)).isSameAs(model.remove(key));
                    default -> assertThat(table.get(key)).isSameAs(model.get(key));
                }
                assertThat(table.size()).isEqualTo(model.size());
            }
            for (long key = 0; key <= 5_001; key++) {
                assertThat(table.get(key)).as("key %d", key).isSameAs(model.get(key));
                assertThat(table.containsKey(key)).isEqualTo(model.containsKey(key));
            }
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + Seeds.reproduceWith(test), e);
        }
    }

    @Test
    void refusesBlockZeroWhichMarksEmptySlots() {
        NodeTable table = new NodeTable();
        assertThatThrownBy(() -> table.put(0, new Node(0, 0, 1, new long[0], false)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("block 0");
        assertThat(table.remove(0)).isNull();
        assertThat(table.containsKey(0)).isFalse();
    }
}
