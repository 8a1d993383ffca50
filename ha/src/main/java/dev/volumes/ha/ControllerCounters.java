package dev.volumes.ha;

/**
 * Monotonic counters of one {@link Controller} since it started (a snapshot).
 *
 * @param elections leases won (Elected events)
 * @param fenceAttempts calls of {@link Fencer#fence}
 * @param fenceFailures fence calls that threw
 * @param promotions transitions to {@link ControllerState#LEADER}
 * @param demotions transitions from fence-pending or leader back to follower
 * @param leaseLosses lease losses reported by the coordinator
 * @param campaigns calls of {@link Coordinator#campaign}
 * @param refusedWrites operations a gate refused because this node was not leader
 * @param writePathFailures times this node stepped down because the write path of the term it led
 *     could no longer write (the write-failure health rule; each is also a demotion)
 */
public record ControllerCounters(long elections, long fenceAttempts, long fenceFailures, long promotions,
        long demotions, long leaseLosses, long campaigns, long refusedWrites, long writePathFailures) {}
