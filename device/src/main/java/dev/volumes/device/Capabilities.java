package dev.volumes.device;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/** An immutable set of {@link Capability} values. */
public final class Capabilities {

    private final Set<Capability> set;

    private Capabilities(EnumSet<Capability> set) {
        this.set = Collections.unmodifiableSet(set);
    }

    /** The capabilities given; none means a plain read/write device with emulated extras. */
    public static Capabilities of(Capability... capabilities) {
        EnumSet<Capability> set = EnumSet.noneOf(Capability.class);
        Collections.addAll(set, capabilities);
        return new Capabilities(set);
    }

    /** Whether {@code capability} is present. */
    public boolean has(Capability capability) {
        return set.contains(capability);
    }

    /** Shorthand for {@code has(READ_ONLY)}. */
    public boolean readOnly() {
        return set.contains(Capability.READ_ONLY);
    }

    /** These capabilities plus {@code more}. */
    public Capabilities with(Capability... more) {
        EnumSet<Capability> copy = copy();
        Collections.addAll(copy, more);
        return new Capabilities(copy);
    }

    /** These capabilities without {@code fewer}. */
    public Capabilities without(Capability... fewer) {
        EnumSet<Capability> copy = copy();
        for (Capability c : fewer) {
            copy.remove(c);
        }
        return new Capabilities(copy);
    }

    /** The capabilities as an unmodifiable set. */
    public Set<Capability> asSet() {
        return set;
    }

    private EnumSet<Capability> copy() {
        return set.isEmpty() ? EnumSet.noneOf(Capability.class) : EnumSet.copyOf(set);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Capabilities other && other.set.equals(set);
    }

    @Override
    public int hashCode() {
        return set.hashCode();
    }

    @Override
    public String toString() {
        return set.toString();
    }
}
