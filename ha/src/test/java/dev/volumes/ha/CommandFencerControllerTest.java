package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.WriteFlag;
import dev.volumes.replica.ReplicationMode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The external fencer hook with the controller, in {@code minInSync} mode where storage alone
 * cannot fence: {@code Fencer.command(script).andThen(termEngine)}. The script is a real shell
 * script; it and the storage opener append to one log, so the log is the fence order.
 */
class CommandFencerControllerTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final long SIZE = 256 << 10;

    @TempDir
    Path dir;

    private Path log;
    private Path failFlag;
    private Path script;
    private ReplicaSet set;
    private final InMemoryCoordination group = new InMemoryCoordination();
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        log = dir.resolve("fence.log");
        failFlag = dir.resolve("stonith-down");
        script = dir.resolve("stonith.sh");
        Files.writeString(script, """
                #!/bin/sh
                # stonith.sh --term T --node N LOG FAILFLAG: records its call; fails while FAILFLAG exists
                [ "$1" = --term ] && [ "$3" = --node ] || { echo "bad arguments: $*"; exit 2; }
                echo "command term=$2 node=$4" >> "$5"
                if [ -e "$6" ]; then echo "power switch unreachable"; exit 1; fi
                exit 0
                """);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        set = new ReplicaSet(3, SIZE, dir);
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
        group.close();
        set.close();
    }

    private synchronized void logLine(String line) throws IOException {
        Files.writeString(log, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    private List<String> logLines() throws IOException {
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

    private record Node(Controller controller, TermEngine engine, Device gated) {}

    private Node start(String id) {
        ReplicatedOpener replication = ReplicatedOpener.builder().volume("vol").nodeId(id)
                .replicas(set.links().connectors).mode(ReplicationMode.minInSync(2)).stateDir(dir.resolve(id))
                .regionSize(64 << 10).build();
        TermEngine.Opener recording = term -> {
            logLine("claim term=" + term + " node=" + id);
            return replication.open(term);
        };
        TermEngine engine = new TermEngine("vol", SIZE, replication.capabilities(), recording);
        Fencer fencer = Fencer.command(List.of(script.toString(), "--term", "{term}", "--node", "{node}",
                log.toString(), failFlag.toString()), id, Duration.ofSeconds(10)).andThen(engine);
        Controller c = Controller.builder().coordinator(group.coordinator(id)).fencer(fencer)
                .backoff(Duration.ofMillis(5), Duration.ofMillis(20)).maxFenceAttempts(1000)
                .recampaignDelay(Duration.ofMillis(10)).start();
        closing.add(engine);
        closing.add(c);
        return new Node(c, engine, c.gate(engine, ReadPolicy.LEADER_ONLY));
    }

    @Test
    void theCommandRunsBeforeTheStorageClaimAndAFailingCommandBlocksPromotionUntilItSucceeds() throws Exception {
        Files.createFile(failFlag);
        Node a = start("a");
        // the script logs its call before it exits; the controller counts the failure after that
        ControllerTest.waitUntil(() -> logLines().size() >= 3 && a.controller().counters().fenceFailures() >= 3);
        assertThat(a.controller().status()).isEqualTo(new ControllerStatus(ControllerState.FENCE_PENDING, 1));
        assertThat(logLines()).containsOnly("command term=1 node=a");
        assertThat(a.controller().counters().fenceFailures()).isGreaterThanOrEqualTo(3);
        assertThat(a.controller().counters().promotions()).isZero();
        for (int i = 0; i < 3; i++) {
            assertThat(set.promised(i)).as("replica r%d promised nothing while the command failed", i).isZero();
        }
        assertThatThrownBy(() -> a.gated().write(ByteBuffer.allocate(512), 0, WriteFlag.FUA))
                .isInstanceOf(NotLeaderException.class);

        Files.delete(failFlag); // the power switch is back
        assertThat(a.controller().awaitState(ControllerState.LEADER, WAIT))
                .isEqualTo(new ControllerStatus(ControllerState.LEADER, 1));
        List<String> lines = logLines();
        assertThat(lines.subList(lines.size() - 2, lines.size()))
                .containsExactly("command term=1 node=a", "claim term=1 node=a");
        assertThat(lines.stream().filter(l -> l.startsWith("claim"))).hasSize(1);
        for (int i = 0; i < 3; i++) {
            assertThat(set.promised(i)).isEqualTo(1);
        }
        a.gated().write(ByteBuffer.allocate(512), 0, WriteFlag.FUA);

        // a successor runs the command with its own term and node before claiming the storage
        Node b = start("b");
        ControllerTest.waitUntil(() -> group.coordinator("a").members().contains("b"));
        group.expire("a");
        assertThat(b.controller().awaitState(ControllerState.LEADER, WAIT))
                .isEqualTo(new ControllerStatus(ControllerState.LEADER, 2));
        lines = logLines();
        assertThat(lines.subList(lines.size() - 2, lines.size()))
                .containsExactly("command term=2 node=b", "claim term=2 node=b");
        b.gated().write(ByteBuffer.allocate(512), 4096, WriteFlag.FUA);
        ControllerTest.waitUntil(() -> a.engine().openTerm() == 0); // released on a's worker after its lease loss
    }
}
