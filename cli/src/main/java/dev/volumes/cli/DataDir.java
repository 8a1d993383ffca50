package dev.volumes.cli;

import java.nio.file.Path;

/**
 * The daemon's data directory and the files in it: {@code default.pool} (the pool) and
 * {@code control.sock} (the control API). Chosen by {@code --data-dir}, else the environment
 * variable {@code VOLUMES_DATA_DIR}, else {@code ./volumes-data}.
 */
record DataDir(Path root) {

    static final String ENV = "VOLUMES_DATA_DIR";
    static final String DEFAULT = "volumes-data";

    static DataDir resolve(Path option) {
        if (option != null) {
            return new DataDir(option.toAbsolutePath().normalize());
        }
        String env = System.getenv(ENV);
        return new DataDir(Path.of(env == null || env.isBlank() ? DEFAULT : env).toAbsolutePath().normalize());
    }

    Path pool() {
        return root.resolve("default.pool");
    }

    Path controlSocket() {
        return root.resolve("control.sock");
    }
}
