package dev.volumes.pool;

import java.io.IOException;

/** A volume, snapshot or clone with the requested name already exists; nothing changed. */
public class VolumeExistsException extends IOException {

    public VolumeExistsException(String pool, String name) {
        super("pool '" + pool + "' already has a volume, snapshot or clone named '" + name + "'");
    }
}
