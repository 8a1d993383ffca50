package dev.volumes.nbd;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A handshake option parsed from a {@link OptionDecoder.RawOption}: what the client asked for, as
 * a value. {@link #parse} never throws for bad data; it returns {@link Invalid} (answered with
 * {@code NBD_REP_ERR_INVALID}) or {@link Unknown} (answered with {@code NBD_REP_ERR_UNSUP}).
 */
sealed interface OptionRequest {

    /** The option code as sent by the client. */
    int code();

    /** {@code NBD_OPT_EXPORT_NAME}: enter transmission with this export, no error possible. */
    record ExportName(String name) implements OptionRequest {
        public int code() { return Wire.OPT_EXPORT_NAME; }
    }

    /** {@code NBD_OPT_ABORT}. */
    record Abort() implements OptionRequest {
        public int code() { return Wire.OPT_ABORT; }
    }

    /** {@code NBD_OPT_LIST}. */
    record ListExports() implements OptionRequest {
        public int code() { return Wire.OPT_LIST; }
    }

    /** {@code NBD_OPT_STARTTLS}. */
    record StartTls() implements OptionRequest {
        public int code() { return Wire.OPT_STARTTLS; }
    }

    /** {@code NBD_OPT_INFO} ({@code go == false}) or {@code NBD_OPT_GO}. */
    record Info(boolean go, String name, List<Integer> requests) implements OptionRequest {
        public int code() { return go ? Wire.OPT_GO : Wire.OPT_INFO; }
    }

    /** {@code NBD_OPT_STRUCTURED_REPLY}. */
    record StructuredReply() implements OptionRequest {
        public int code() { return Wire.OPT_STRUCTURED_REPLY; }
    }

    /** {@code NBD_OPT_LIST_META_CONTEXT} ({@code set == false}) or {@code NBD_OPT_SET_META_CONTEXT}. */
    record MetaContext(boolean set, String export, List<String> queries) implements OptionRequest {
        public int code() { return set ? Wire.OPT_SET_META_CONTEXT : Wire.OPT_LIST_META_CONTEXT; }
    }

    /** {@code NBD_OPT_EXTENDED_HEADERS}. */
    record ExtendedHeaders() implements OptionRequest {
        public int code() { return Wire.OPT_EXTENDED_HEADERS; }
    }

    /** A known option whose data is malformed; {@code reason} goes into the error reply. */
    record Invalid(int code, String reason) implements OptionRequest {}

    /** An option this server does not implement. */
    record Unknown(int code) implements OptionRequest {}

    /** Parses {@code raw}; never throws. */
    static OptionRequest parse(OptionDecoder.RawOption raw) {
        int code = raw.option();
        ByteBuffer in = ByteBuffer.wrap(raw.data());
        try {
            return switch (code) {
                case Wire.OPT_EXPORT_NAME -> new ExportName(string(in, in.remaining()));
                case Wire.OPT_ABORT -> new Abort(); // data, if any, is ignored as the spec asks
                case Wire.OPT_LIST -> empty(in, code, new ListExports());
                case Wire.OPT_STARTTLS -> empty(in, code, new StartTls());
                case Wire.OPT_STRUCTURED_REPLY -> empty(in, code, new StructuredReply());
                case Wire.OPT_EXTENDED_HEADERS -> empty(in, code, new ExtendedHeaders());
                case Wire.OPT_INFO, Wire.OPT_GO -> info(in, code);
                case Wire.OPT_LIST_META_CONTEXT, Wire.OPT_SET_META_CONTEXT -> meta(in, code);
                default -> new Unknown(code);
            };
        } catch (BufferUnderflowException e) {
            return new Invalid(code, "option data of " + raw.data().length + " bytes is truncated");
        } catch (MalformedException e) {
            return new Invalid(code, e.getMessage());
        }
    }

    private static OptionRequest empty(ByteBuffer in, int code, OptionRequest ok) {
        return in.hasRemaining()
                ? new Invalid(code, "option takes no data but " + in.remaining() + " bytes were sent")
                : ok;
    }

    private static OptionRequest info(ByteBuffer in, int code) throws MalformedException {
        String name = string(in, lengthPrefix(in));
        int count = Short.toUnsignedInt(in.getShort());
        if (in.remaining() != count * 2) {
            throw new MalformedException("info request count " + count + " does not match the "
                    + in.remaining() + " bytes left");
        }
        List<Integer> requests = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            requests.add(Short.toUnsignedInt(in.getShort()));
        }
        return new Info(code == Wire.OPT_GO, name, List.copyOf(requests));
    }

    private static OptionRequest meta(ByteBuffer in, int code) throws MalformedException {
        String export = string(in, lengthPrefix(in));
        long count = Integer.toUnsignedLong(in.getInt());
        if (count * 4 > in.remaining()) {
            throw new MalformedException("meta context query count " + count + " exceeds the data");
        }
        List<String> queries = new ArrayList<>();
        for (long i = 0; i < count; i++) {
            queries.add(string(in, lengthPrefix(in)));
        }
        if (in.hasRemaining()) {
            throw new MalformedException(in.remaining() + " trailing bytes after the meta context queries");
        }
        return new MetaContext(code == Wire.OPT_SET_META_CONTEXT, export, List.copyOf(queries));
    }

    private static int lengthPrefix(ByteBuffer in) throws MalformedException {
        long length = Integer.toUnsignedLong(in.getInt());
        if (length > in.remaining()) {
            throw new MalformedException("string length " + length + " exceeds the " + in.remaining()
                    + " bytes left in the option");
        }
        return (int) length;
    }

    private static String string(ByteBuffer in, int length) throws MalformedException {
        if (length > Wire.MAX_STRING) {
            throw new MalformedException("string of " + length + " bytes exceeds the limit of " + Wire.MAX_STRING);
        }
        ByteBuffer bytes = in.slice(in.position(), length);
        in.position(in.position() + length);
        try {
            String s = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(bytes).toString();
            if (s.indexOf('\0') >= 0) {
                throw new MalformedException("string contains NUL");
            }
            return s;
        } catch (CharacterCodingException e) {
            throw new MalformedException("string is not valid UTF-8");
        }
    }

    /** Internal signal for malformed option data. */
    final class MalformedException extends Exception {
        private static final long serialVersionUID = 1L;

        MalformedException(String message) {
            super(message, null, false, false);
        }
    }
}
