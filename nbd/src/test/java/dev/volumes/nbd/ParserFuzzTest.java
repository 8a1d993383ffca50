package dev.volumes.nbd;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.ByteBuffer;

/**
 * Jazzer fuzz targets for the bytes a client controls: the handshake (client flags, options and
 * their data) and transmission request headers. In a normal test run Jazzer replays the committed
 * seed corpus under src/test/resources/dev/volumes/nbd/ParserFuzzTestInputs/; with JAZZER_FUZZ=1
 * it fuzzes. The property: decoding never throws anything but {@link ProtocolException}, never
 * allocates more than the option cap, and parsing an option never throws.
 */
class ParserFuzzTest {

    @FuzzTest(maxDuration = "30s")
    void handshake(byte[] input) {
        OptionDecoder decoder = new OptionDecoder();
        ByteBuffer in = ByteBuffer.wrap(input);
        // Feed in uneven pieces so partial-state paths are exercised.
        int step = input.length == 0 ? 1 : 1 + (input[0] & 7);
        try {
            while (in.hasRemaining()) {
                ByteBuffer piece = in.slice(in.position(), Math.min(step, in.remaining()));
                in.position(in.position() + piece.remaining());
                OptionDecoder.Message m;
                while ((m = decoder.decode(piece)) != null) {
                    if (m instanceof OptionDecoder.RawOption raw) {
                        if (raw.data().length > Wire.MAX_OPTION_LENGTH) {
                            throw new AssertionError("allocated " + raw.data().length + " bytes for an option");
                        }
                        if (OptionRequest.parse(raw) == null) {
                            throw new AssertionError("parse returned null");
                        }
                    }
                }
                if (piece.hasRemaining()) {
                    throw new AssertionError("decoder left input unconsumed");
                }
            }
        } catch (ProtocolException expected) {
            // a clean disconnect
        }
    }

    @FuzzTest(maxDuration = "30s")
    void transmission(byte[] input) {
        boolean extended = input.length > 0 && (input[0] & 1) == 1;
        RequestDecoder decoder = new RequestDecoder(extended);
        ByteBuffer in = ByteBuffer.wrap(input);
        try {
            while (in.hasRemaining()) {
                RequestDecoder.Request r = decoder.decode(in);
                if (r != null && !extended && (r.length() < 0 || r.length() > 0xFFFF_FFFFL)) {
                    throw new AssertionError("compact length out of 32-bit range: " + r);
                }
            }
        } catch (ProtocolException expected) {
            // a clean disconnect
        }
    }
}
