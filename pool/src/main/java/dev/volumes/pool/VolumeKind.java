package dev.volumes.pool;

/** What a named entry of a pool is. Stored on disk as the numbers given. */
public enum VolumeKind {
    /** A writable thin volume created empty by {@link Pool#createVolume}. On disk: 1. */
    VOLUME(1),
    /** An immutable point-in-time copy made by {@link Pool#snapshot}. On disk: 2. */
    SNAPSHOT(2),
    /** A writable copy made by {@link Pool#clone}. On disk: 3. */
    CLONE(3);

    private final int code;

    VolumeKind(int code) {
        this.code = code;
    }

    /** The on-disk code. */
    int code() {
        return code;
    }

    /** Whether volumes of this kind refuse writes. */
    public boolean readOnly() {
        return this == SNAPSHOT;
    }

    static VolumeKind fromCode(int code) {
        for (VolumeKind k : values()) {
            if (k.code == code) {
                return k;
            }
        }
        return null;
    }
}
