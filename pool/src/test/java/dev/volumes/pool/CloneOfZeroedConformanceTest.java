package dev.volumes.pool;

import dev.volumes.device.Device;
import java.io.IOException;

/**
 * The conformance suite over clones whose origin was zeroed by {@code writeZeroes(mayUnmap=false)}:
 * every block of the clone is a shared ZEROED entry, so reads return zeros without reading the
 * device and each first write to a block copies it to a new, zero-filled block.
 */
class CloneOfZeroedConformanceTest extends CloneConformanceTest {

    @Override
    protected void allocateZeros(Device origin, long size) throws IOException {
        origin.writeZeroes(0, size, false);
    }
}
