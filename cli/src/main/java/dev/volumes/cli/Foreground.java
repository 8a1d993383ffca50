package dev.volumes.cli;

import java.io.Closeable;
import java.util.concurrent.CountDownLatch;

/**
 * Keeps a daemon-like command ({@code serve}, {@code replica serve}, {@code ha run}) in the
 * foreground until Ctrl-C or SIGTERM, then closes it (drain, sync, close) and says so.
 */
final class Foreground {

    private Foreground() {}

    /** Blocks until the JVM is asked to stop, closing {@code service} in the shutdown hook. */
    static void runUntilStopped(Closeable service, String what) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("volumes: stopping " + what + "...");
            try {
                service.close();
                System.out.println("volumes: stopped cleanly.");
            } catch (Exception e) {
                System.err.println("volumes: error while stopping: " + Failures.message(e));
            } finally {
                System.out.flush();
                stopped.countDown();
            }
        }, "volumes-shutdown"));
        stopped.await();
    }
}
