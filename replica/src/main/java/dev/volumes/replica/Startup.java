package dev.volumes.replica;

import dev.volumes.device.Device;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Opens a replica set: claims every replica with the term, reads headers and the state file, and
 * decides deterministically which replicas are in sync (the rules are in docs/replication.md,
 * "Start-up"). Everything here runs before the engine is published, single-threaded.
 */
final class Startup {

    private final Config config;

    Startup(Config config) {
        this.config = config;
    }

    Engine open() throws IOException {
        List<Member> members = new ArrayList<>();
        List<Device> toClose = new ArrayList<>();
        Engine engine = null;
        StateStore store = null;
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        try {
            // 1. claim / attach every replica
            for (Config.Spec spec : config.replicas()) {
                Member m = new Member(spec.id(), spec.connector(), spec.device());
                members.add(m);
                if (spec.connector() != null) {
                    try {
                        m.device = within(ex, () -> spec.connector().connect(config.term(), config.writer()),
                                "claim " + spec.connector().describe());
                        toClose.add(m.device);
                    } catch (FencedException e) {
                        throw new FencedException(config.name() + ": open with term " + config.term(), e);
                    } catch (IOException e) {
                        m.device = null;
                        m.reason = "unreachable at open: " + FanOut.describe(e);
                    }
                }
            }
            // 2. sizes and headers
            long size = -1;
            ReplicaHeader[] headers = new ReplicaHeader[members.size()];
            // the freshest header in (term, generation) order: a newer writer's headers beat any
            // generation an older writer may still have published to a replica it could reach
            long gterm = 0;
            long gmax = 0;
            long highest = 0; // the highest generation on any readable header, whatever its term
            for (int i = 0; i < members.size(); i++) {
                Member m = members.get(i);
                if (m.device == null) {
                    continue;
                }
                Device d = m.device;
                long s;
                try {
                    s = within(ex, d::size, "size of " + m.id);
                } catch (FencedException e) {
                    // a newer writer claimed it after our claim: deposed, not unreachable
                    throw new FencedException(config.name() + ": open with term " + config.term(), e);
                } catch (IOException e) {
                    m.reason = "unreachable at open: " + FanOut.describe(e);
                    continue;
                }
                if (size >= 0 && s != size) {
                    throw new IOException(config.name() + ": replica " + m.id + " has " + s
                            + " bytes, the others " + size + "; all replicas must be the same size");
                }
                size = s;
                try {
                    headers[i] = within(ex, () -> ReplicaHeader.read(d, m.id), "header of " + m.id);
                    m.headerGeneration = headers[i].generation();
                    highest = Math.max(highest, headers[i].generation());
                    if (newer(headers[i].term(), headers[i].generation(), gterm, gmax)) {
                        gterm = headers[i].term();
                        gmax = headers[i].generation();
                    }
                    if (headers[i].term() > config.term()) {
                        throw new FencedException(m.id, config.term(), headers[i].term(),
                                "its header was written by a writer with term " + headers[i].term());
                    }
                } catch (FencedException e) {
                    throw e;
                } catch (IOException e) {
                    m.reason = "unreadable header: " + e.getMessage();
                    m.needsFull = true;
                }
            }
            if (size < 0) {
                throw new IOException(config.name() + ": open: no replica is reachable: " + reasons(members));
            }
            long dataSize = size - ReplicaHeader.AREA;
            if (dataSize <= 0) {
                throw new IOException(config.name() + ": replicas of " + size + " bytes are too small for the "
                        + ReplicaHeader.AREA + "-byte header area");
            }
            long regionSize = regionSize(dataSize);
            // 3. state file
            Device stateDevice = config.stateOpener().open(dataSize, regionSize);
            try {
                store = StateStore.open(stateDevice, dataSize, regionSize);
            } catch (IOException e) {
                stateDevice.close();
                throw e;
            }
            StateRecord rec = store.current();
            if (rec != null && rec.term() > config.term()) {
                throw new FencedException("state file " + stateDevice.name(), config.term(), rec.term(),
                        "this writer's own state already recorded term " + rec.term());
            }
            boolean noHistory = gmax == 0 && (rec == null || rec.generation() == 0);
            int headersRead = 0;
            for (ReplicaHeader h : headers) {
                if (h != null) {
                    headersRead++;
                }
            }
            if (noHistory && headersRead < members.size()) {
                // the replicas with history may be exactly the unreachable ones: a blank
                // replacement must not be taken for a new set and served as an empty volume
                throw new IOException(config.name() + ": open: no reachable replica has history and only "
                        + headersRead + " of " + members.size() + " replica headers are reachable: cannot tell a"
                        + " new set from one whose replicas are unreachable: " + reasons(members));
            }
            boolean brandNew = noHistory;
            // this writer's own state counts only if no replica header is fresher in (term,
            // generation) order: a state file left by this node under an older term (with
            // drop-outs that never reached the replicas) says nothing about a newer writer's set
            boolean stateCurrent = rec != null && rec.members().size() == members.size()
                    && !newer(gterm, gmax, rec.term(), rec.generation());
            DirtyMap dirty = new DirtyMap(dataSize, regionSize, stateCurrent ? rec.bitmap() : null);
            // the activity log on the freshest replicas covers what the last writer had in flight
            for (ReplicaHeader h : headers) {
                if (h != null && gmax > 0 && h.term() == gterm && h.generation() == gmax) {
                    if (h.bitmapValid() && h.regionSize() > 0) {
                        dirty.or(h.bitmap(), h.regionSize());
                    } else {
                        dirty.setAll();
                    }
                }
            }
            // above every generation seen, not only the freshest header's: an older term's header
            // may carry a higher one, and generations must still grow for anyone ordering by them
            long generation = Math.max(highest, rec == null ? 0 : rec.generation()) + 1;
            // 4. decide who is in sync
            int reachable = 0;
            for (int i = 0; i < members.size(); i++) {
                Member m = members.get(i);
                StateRecord.MemberRecord mr = stateCurrent ? rec.member(m.id) : null;
                if (headers[i] != null) {
                    reachable++; // only a replica whose header was read tells us its generation
                }
                boolean usableHistory = m.headerGeneration > 0 && (mr == null || !mr.needsFull());
                if (brandNew) {
                    boolean first = config.skipInitialSync() ? headers[i] != null
                            : m.id.equals(firstReachable(members, headers));
                    m.state = first ? ReplicaState.IN_SYNC : ReplicaState.OUT_OF_SYNC;
                    m.needsFull = !first;
                    m.reason = first ? "" : headers[i] == null ? m.reason : "new set: needs its initial copy";
                } else if (m.device != null && headers[i] != null && headers[i].term() == gterm
                        && headers[i].generation() == gmax && gmax > 0 && (mr == null || mr.inSync())) {
                    m.state = ReplicaState.IN_SYNC;
                    m.needsFull = false;
                    m.reason = "";
                } else {
                    m.state = ReplicaState.OUT_OF_SYNC;
                    m.needsFull = !usableHistory;
                    ReplicaHeader h = headers[i];
                    if (m.device != null && h != null) {
                        m.reason = mr != null && !mr.inSync() && !mr.reason().isEmpty()
                                ? "stale: " + mr.reason()
                                : h.term() == gterm
                                        ? "stale: header generation " + h.generation() + " < " + gmax
                                        : "stale: header of term " + h.term() + " generation "
                                                + h.generation() + ", older than term " + gterm
                                                + " generation " + gmax;
                        if (!m.needsFull && h.term() < gterm) {
                            // an older term's writer may have written on it alone (minInSync: after
                            // dropping the others) regions this line's dirty map never had: its own
                            // bitmap names them; without one only a full copy is safe
                            if (h.bitmapValid() && (h.bitmap().length == 0 || h.regionSize() > 0)) {
                                m.ownRegions = dirty.regionsOf(h.bitmap(), h.regionSize());
                            } else {
                                m.needsFull = true;
                                m.reason += "; its header bitmap is unusable: full rebuild";
                            }
                        }
                    }
                }
            }
            engine = new Engine(config, members, dataSize, store, dirty, generation);
            int required = engine.required;
            if (config.mode().isQuorum() && reachable < required && !brandNew) {
                throw new IOException(config.name() + ": open: only " + reachable + " of " + members.size()
                        + " replicas reachable, QUORUM needs " + required + " to find the freshest: "
                        + engine.describeStates());
            }
            if (!config.mode().isQuorum() && !stateCurrent && !brandNew && reachable < members.size()) {
                throw new IOException(config.name() + ": open: this writer has no current state for the set and only "
                        + reachable + " of " + members.size() + " replicas are reachable; in " + config.mode()
                        + " mode every replica must be reachable to find the freshest: " + engine.describeStates());
            }
            // 4b. QUORUM: the freshest generation held by too few is still authoritative (it holds
            // every acknowledged write); catch the stale replicas up from it (docs/replication.md,
            // "Start-up", "A freshest generation held by a minority")
            List<Member> freshest = members.stream().filter(m -> m.state == ReplicaState.IN_SYNC).toList();
            if (config.mode().isQuorum() && !brandNew && !freshest.isEmpty() && freshest.size() < required) {
                for (int i = 0; i < members.size(); i++) {
                    Member m = members.get(i);
                    ReplicaHeader h = headers[i];
                    if (m.state == ReplicaState.OUT_OF_SYNC && m.device != null && h != null && !m.needsFull
                            && h.bitmapValid() && h.regionSize() > 0) {
                        dirty.or(h.bitmap(), h.regionSize()); // its own extra regions are re-synced too
                        m.state = ReplicaState.IN_SYNC;
                        m.reason = "";
                    }
                }
            }
            // 5. restart resync of the activity log among in-sync replicas, from a freshest one
            List<Member> inSync = members.stream().filter(m -> m.state == ReplicaState.IN_SYNC).toList();
            if (inSync.size() > 1 && dirty.dirtyCount() > 0) {
                Member source = engine.readOrder().stream().filter(freshest::contains).findFirst().orElseThrow();
                BitSet regions = dirty.dirtyRegions();
                for (Member t : inSync) {
                    if (t != source) {
                        try {
                            engine.rebuilder.copyRegions(source, t, regions);
                        } catch (IOException e) {
                            FencedException f = NbdConnector.asFenced(e, t.where(), config.term(), config.writer());
                            if (f != null) {
                                throw new FencedException(config.name() + ": open with term " + config.term()
                                        + ": restart resync", f);
                            }
                            t.state = ReplicaState.OUT_OF_SYNC;
                            t.needsFull = false;
                            t.reason = "restart resync failed: " + e.getMessage();
                        }
                    }
                }
            }
            // a failing open bumps no generation anywhere: check before step 6 writes headers
            long ready = members.stream().filter(m -> m.state == ReplicaState.IN_SYNC).count();
            if (!brandNew && ready < required) {
                throw new IOException(config.name() + ": open: " + ready + " of " + members.size()
                        + " replicas in sync, mode " + config.mode() + " needs " + required
                        + "; no header was changed: " + engine.describeStates());
            }
            // 6. new generation on every in-sync replica, then the state file
            ReplicaHeader header = engine.state.header(dirty.snapshot());
            List<FanOut.Failure> headerFailures = new ArrayList<>();
            for (Member m : members) {
                if (m.state == ReplicaState.IN_SYNC) {
                    try {
                        within(ex, () -> {
                            header.write(m.device);
                            return null;
                        }, "header write on " + m.id);
                        m.headerGeneration = generation;
                    } catch (IOException e) {
                        headerFailures.add(new FanOut.Failure(m, e));
                    }
                }
            }
            if (!headerFailures.isEmpty()) {
                // a failed (timed-out) header write may still land with the new generation: drop
                // those replicas the usual way, which moves the others to a newer generation
                engine.state.dropOut(headerFailures, "header write at open");
                for (FanOut.Failure hf : headerFailures) {
                    hf.member().needsFull = !stateCurrent;
                    hf.member().reason = "header write at open failed: " + hf.error().getMessage();
                }
            }
            engine.state.commitState();
            // 7. a brand-new set copies its first replica onto the others
            if (brandNew && !config.skipInitialSync()) {
                for (Member m : members) {
                    if (m.state == ReplicaState.OUT_OF_SYNC && m.device != null) {
                        try {
                            engine.rebuilder.rebuild(m);
                        } catch (IOException e) {
                            // stays out of sync with the reason; the requirement check decides
                        }
                    }
                }
            }
            long inSyncNow = members.stream().filter(m -> m.state == ReplicaState.IN_SYNC).count();
            if (inSyncNow < required) {
                throw new IOException(config.name() + ": open: " + inSyncNow + " of " + members.size()
                        + " replicas in sync, mode " + config.mode() + " needs " + required + ": "
                        + engine.describeStates());
            }
            Engine done = engine;
            engine = null;
            store = null;
            toClose.clear();
            return done;
        } finally {
            ex.shutdownNow();
            if (engine != null) {
                engine.abandon();
            }
            if (store != null) {
                try {
                    store.close();
                } catch (IOException e) {
                    // reporting the open failure matters more
                }
            }
            for (Device d : toClose) {
                Engine.closeQuietly(d);
            }
        }
    }

    /** Whether (term, generation) {@code a} is fresher than {@code b}: the higher term, then the higher generation. */
    static boolean newer(long termA, long generationA, long termB, long generationB) {
        return termA > termB || (termA == termB && generationA > generationB);
    }

    private long regionSize(long dataSize) throws IOException {
        long need = (dataSize + ReplicaHeader.MAX_REGIONS - 1) / ReplicaHeader.MAX_REGIONS;
        if (config.regionSize() > 0) {
            if (config.regionSize() < need) {
                throw new IOException(config.name() + ": region size " + config.regionSize() + " gives more than "
                        + ReplicaHeader.MAX_REGIONS + " regions for " + dataSize + " bytes; use at least " + need);
            }
            return config.regionSize();
        }
        long r = 1 << 20;
        while (r < need) {
            r <<= 1;
        }
        return r;
    }

    private String firstReachable(List<Member> members, ReplicaHeader[] headers) {
        String first = "";
        for (int i = 0; i < members.size(); i++) {
            if (headers[i] != null) {
                if (members.get(i).id.equals(config.preferred())) {
                    return members.get(i).id;
                }
                if (first.isEmpty()) {
                    first = members.get(i).id;
                }
            }
        }
        return first;
    }

    private static String reasons(List<Member> members) {
        return String.join("; ", members.stream().map(m -> m.id + ": " + m.reason).toList());
    }

    interface IoCall<T> {
        T call() throws IOException;
    }

    private <T> T within(ExecutorService ex, IoCall<T> call, String what) throws IOException {
        Future<T> f = ex.submit(call::call);
        try {
            return f.get(config.writeTimeout().toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException(what + " failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new IOException(what + ": no answer within " + config.writeTimeout().toMillis() + " ms", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException(what + ": interrupted");
        }
    }
}
