package dev.volumes.pool;

/** The conformance suite over snapshots in a pool with {@link PoolOptions#defaults()} (4 KiB blocks). */
class SnapshotConformanceDefaultBlockSizeTest extends SnapshotConformanceTest {

    @Override
    protected PoolOptions options() {
        return PoolOptions.defaults();
    }
}
