package dev.volumes.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * The daemon's control API: newline-delimited JSON over the Unix socket {@code control.sock} in
 * the data directory (owner-only permissions). One request per line, one response per line, in
 * order. Documented in docs/cli.md.
 *
 * <pre>
 * request:  {"op":"volume.create","name":"db","size":10737418240}
 * response: {"ok":true,"result":{...VolumeView...}}
 *       or  {"ok":false,"exit":"NOT_FOUND","message":"no volume ... named 'x'"}
 * </pre>
 *
 * Operations: {@code pool.info}, {@code volume.list}, {@code volume.info} (name),
 * {@code volume.create} (name, size), {@code snapshot.create} (source, name), {@code clone}
 * (source, name), {@code pool.check}, {@code pool.repair}, {@code pool.grow} (size, optional),
 * {@code volume.delete} (name), {@code snapshot.delete} (name), {@code volume.resize} (name, size),
 * {@code diff} (source = older, name = newer), {@code volume.export} (name, target = absolute file),
 * {@code volume.import} (target = absolute file, name), {@code oci.freeze} (name, target), {@code oci.pull} (target, name), {@code oci.attach}
 * (target, name), {@code oci.commit} (name, target), {@code oci.detach} (name, discard). Long
 * operations send {@link ProgressLine}s before their response.
 */
final class ControlProtocol {

    static final ObjectMapper JSON = JsonMapper.builder().build();

    /** Longest accepted request line; longer ones are refused before they are buffered. */
    static final int MAX_LINE = 64 * 1024;

    private ControlProtocol() {}

    /** One request. Unused fields are null. */
    record Request(String op, String name, String source, Long size, String target, Boolean discard) {

        Request(String op, String name, String source, Long size) {
            this(op, name, source, size, null, null);
        }
    }

    /**
     * A progress line sent before the response of a long operation ({@code oci.freeze},
     * {@code oci.commit}, ...): {@code {"progress":{"done":N,"total":M}}}; clients that do not
     * show progress skip it.
     */
    record ProgressLine(Progress progress) {}

    /** Units done of total (total negative: unknown). */
    record Progress(long done, long total) {}

    /** One response: {@code result} on success, {@code exit} and {@code message} on failure. */
    record Response(boolean ok, Object result, String exit, String message) {

        static Response success(Object result) {
            return new Response(true, result, null, null);
        }

        static Response failure(ExitCode exit, String message) {
            return new Response(false, null, exit.name(), message);
        }
    }
}
