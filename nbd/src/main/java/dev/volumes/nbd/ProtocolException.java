package dev.volumes.nbd;

import java.io.IOException;

/**
 * The peer broke the protocol in a way that leaves no safe way to continue (bad magic, unknown
 * client flags, oversized payload): the connection is closed without a reply.
 */
final class ProtocolException extends IOException {

    private static final long serialVersionUID = 1L;

    ProtocolException(String message) {
        super(message);
    }
}
