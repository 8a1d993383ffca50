package dev.volumes.pool;

import java.io.IOException;

/** No volume, snapshot or clone with the requested name exists; nothing changed. */
public class VolumeNotFoundException extends IOException {

    public VolumeNotFoundException(String pool, String name) {
        super("pool '" + pool + "' has no volume, snapshot or clone named '" + name + "'");
    }
}
