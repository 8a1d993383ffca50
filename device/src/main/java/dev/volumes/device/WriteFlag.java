package dev.volumes.device;

/** Flags for {@link Device#write(java.nio.ByteBuffer, long, WriteFlag)}. */
public enum WriteFlag {
    /** Plain write: visible on return, durable after the next sync. */
    NONE,
    /** Force Unit Access: the written range is durable when the write returns. */
    FUA
}
