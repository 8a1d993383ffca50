package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

class InMemoryCoordinationTest {

    @Test
    void firstCandidateLeadsAndSuccessorsGetStrictlyGreaterTerms() throws Exception {
        try (InMemoryCoordination group = new InMemoryCoordination()) {
            List<String> log = new CopyOnWriteArrayList<>();
            for (String id : List.of("a", "b", "c")) {
                Coordinator c = group.coordinator(id);
                c.observe(e -> log.add(id + ":" + e));
                c.campaign();
            }
            assertThat(group.leader()).isEqualTo("a");
            assertThat(group.coordinator("b").members()).containsExactly("a", "b", "c");
            group.expire("a");
            assertThat(group.leader()).isEqualTo("b");
            group.coordinator("b").resign();
            assertThat(group.leader()).isEqualTo("c");
            group.coordinator("a").campaign();
            group.coordinator("c").close();
            assertThat(group.leader()).isEqualTo("a");
            assertThat(group.coordinator("a").leaseTerm()).hasValue(4);
            group.expire("a"); // delivers everything queued before it
            assertThat(log).containsExactly(
                    "a:Elected[term=1]",
                    "a:LeaseLost[term=1, reason=session expired]",
                    "b:Elected[term=2]",
                    "b:LeaseLost[term=2, reason=resigned]",
                    "c:Elected[term=3]",
                    "c:LeaseLost[term=3, reason=coordinator closed]",
                    "a:Elected[term=4]",
                    "a:LeaseLost[term=4, reason=session expired]");
        }
    }

    @Test
    void leaseTermIsEmptyAsSoonAsTheLossIsDecided() throws Exception {
        try (InMemoryCoordination group = new InMemoryCoordination()) {
            Coordinator a = group.coordinator("a");
            List<Long> seenDuringLoss = new CopyOnWriteArrayList<>();
            a.observe(e -> {
                if (e instanceof CoordinatorEvent.LeaseLost) {
                    seenDuringLoss.add(a.leaseTerm().orElse(-1));
                }
            });
            a.campaign();
            group.expire("a");
            assertThat(seenDuringLoss).containsExactly(-1L);
            assertThat(a.members()).isEmpty();
        }
    }
}
