package dev.volumes.pool;

/** The device conformance suite over pool volumes with {@link PoolOptions#defaults()} (4 KiB blocks). */
class VolumeConformanceDefaultBlockSizeTest extends VolumeConformanceTest {

    @Override
    protected PoolOptions options() {
        return PoolOptions.defaults();
    }
}
