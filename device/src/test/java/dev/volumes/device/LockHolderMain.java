package dev.volumes.device;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A child-process helper for {@link FileDeviceLockTest}: {@code hold PATH} opens the file for
 * writing, prints "locked" and keeps it until stdin closes; {@code try PATH} tries to open it and
 * prints "opened" or "refused: MESSAGE".
 */
final class LockHolderMain {

    private LockHolderMain() {}

    public static void main(String[] args) throws IOException {
        Path path = Path.of(args[1]);
        if (args[0].equals("hold")) {
            try (FileDevice d = FileDevice.open(path)) {
                System.out.println("locked " + d.size());
                System.out.flush();
                while (System.in.read() >= 0) {
                    // wait for the parent to close our stdin
                }
            }
        } else {
            try (FileDevice d = FileDevice.open(path)) {
                System.out.println("opened " + d.size());
            } catch (DeviceInUseException e) {
                System.out.println("refused: " + e.getMessage());
            }
        }
    }
}
