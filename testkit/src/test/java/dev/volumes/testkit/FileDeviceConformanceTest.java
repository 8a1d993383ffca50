package dev.volumes.testkit;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The conformance suite over {@link FileDevice}: persistent, resizable, read-only form. */
class FileDeviceConformanceTest extends DeviceConformanceTest {

    @TempDir
    Path dir;

    private int files;

    @Override
    protected Device create(long size) throws IOException {
        return FileDevice.create(dir.resolve("device-" + files++ + ".img"), size);
    }

    @Override
    protected Device reopen(Device closed) throws IOException {
        return FileDevice.open(((FileDevice) closed).path());
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        Path p = dir.resolve("read-only-" + files++ + ".img");
        Files.write(p, content);
        return FileDevice.openReadOnly(p);
    }
}
