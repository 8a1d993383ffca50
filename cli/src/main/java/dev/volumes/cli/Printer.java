package dev.volumes.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/** Prints results as aligned tables for people or as JSON ({@code --json}) for scripts. */
final class Printer {

    private final PrintStream out;
    private final boolean json;

    Printer(PrintStream out, boolean json) {
        this.out = out;
        this.json = json;
    }

    boolean json() {
        return json;
    }

    void json(Object value) {
        try {
            out.println(ControlProtocol.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(value));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render JSON: " + e.getOriginalMessage(), e);
        }
    }

    void volumes(List<VolumeView> volumes) {
        if (json) {
            json(volumes);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "KIND", "SIZE", "ALLOCATED", "ORIGIN", "CREATED"});
        for (VolumeView v : volumes) {
            rows.add(new String[] {v.name(), v.kind(), Sizes.format(v.size()), Sizes.format(v.allocatedBytes()),
                    v.originText(), v.created()});
        }
        table(rows);
    }

    void volume(VolumeView v) {
        if (json) {
            json(v);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"name", v.name()});
        rows.add(new String[] {"kind", v.kind()});
        rows.add(new String[] {"size", Sizes.format(v.size()) + " (" + v.size() + " bytes)"});
        rows.add(new String[] {"allocated", Sizes.format(v.allocatedBytes()) + " (" + v.allocatedBytes() + " bytes)"});
        rows.add(new String[] {"origin", v.originText()});
        rows.add(new String[] {"created", v.created()});
        if (v.export() != null) {
            rows.add(new String[] {"export", v.export()});
        }
        if (v.usage() != null) {
            rows.add(new String[] {"mapped", Sizes.format(v.usage().mappedBytes())});
            rows.add(new String[] {"exclusive", Sizes.format(v.usage().exclusiveBytes()) + " (freed by deleting it)"});
            rows.add(new String[] {"shared", Sizes.format(v.usage().sharedBytes()) + " (with snapshots and clones)"});
        }
        table(rows);
    }

    void pool(PoolView p) {
        if (json) {
            json(p);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"path", p.path()});
        rows.add(new String[] {"uuid", p.uuid()});
        rows.add(new String[] {"label", p.label()});
        rows.add(new String[] {"format", "v" + p.formatVersion()});
        rows.add(new String[] {"block size", Sizes.format(p.blockSize())});
        rows.add(new String[] {"total", Sizes.format(p.totalBytes())});
        rows.add(new String[] {"used", Sizes.format(p.usedBytes())});
        rows.add(new String[] {"free", Sizes.format(p.freeBytes())});
        rows.add(new String[] {"reserved", Sizes.format(p.reservedBytes())});
        rows.add(new String[] {"generation", Long.toString(p.generation())});
        rows.add(new String[] {"volumes", Integer.toString(p.volumes())});
        table(rows);
    }

    void oci(OciView v) {
        if (json) {
            json(v);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"image", v.image()});
        rows.add(new String[] {"digest", v.digest()});
        rows.add(new String[] {"source", v.source()});
        rows.add(new String[] {"size", Sizes.format(v.size()) + " (" + v.size() + " bytes)"});
        rows.add(new String[] {"chunks", v.dataChunks() + " data, " + v.holeChunks() + " holes, "
                + Sizes.format(v.chunkSize()) + " each"});
        rows.add(new String[] {"uploaded", v.blobsUploaded() + " blobs, " + Sizes.format(v.bytesUploaded())
                + " (" + v.blobsSkipped() + " already there)"});
        table(rows);
    }

    /** Prints rows with columns padded to their widest cell; the last column is not padded. */
    void table(List<String[]> rows) {
        int columns = rows.stream().mapToInt(r -> r.length).max().orElse(0);
        int[] width = new int[columns];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        }
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                line.append(row[i]);
                if (i < row.length - 1) {
                    line.append(" ".repeat(width[i] - row[i].length() + 2));
                }
            }
            out.println(line.toString().stripTrailing());
        }
    }
}
