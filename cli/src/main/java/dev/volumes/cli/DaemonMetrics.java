package dev.volumes.cli;

import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.OutOfRangeException;
import dev.volumes.device.ReadOnlyDeviceException;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.function.LongSupplier;

/**
 * The daemon's Prometheus metrics: per export request counts, bytes, errors by kind and latency
 * histograms (recorded by {@link MeteredDevice}), pool space gauges and the NBD connection count.
 * Served over HTTP at {@code /metrics} when an address is given. Metric names are listed in
 * docs/cli.md.
 */
final class DaemonMetrics implements Closeable {

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter requests;
    private final Counter bytes;
    private final Counter errors;
    private final Histogram latency;
    private HTTPServer http;

    DaemonMetrics() {
        requests = Counter.builder().name("volumes_export_requests_total")
                .help("Requests served per export and operation").labelNames("export", "op").register(registry);
        bytes = Counter.builder().name("volumes_export_bytes_total")
                .help("Bytes read or written per export").labelNames("export", "op").register(registry);
        errors = Counter.builder().name("volumes_export_errors_total")
                .help("Failed requests per export, operation and error kind")
                .labelNames("export", "op", "kind").register(registry);
        latency = Histogram.builder().name("volumes_export_request_seconds")
                .help("Request latency per export and operation").labelNames("export", "op")
                .classicOnly().classicUpperBounds(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                        0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
                .register(registry);
    }

    /** Wraps {@code device} so every request on it is counted under {@code export}. */
    Device meter(String export, Device device) {
        return new MeteredDevice(device, export, this);
    }

    /** Registers a gauge read from {@code value} at every scrape. */
    void gauge(String name, String help, LongSupplier value) {
        GaugeWithCallback.builder().name(name).help(help)
                .callback(cb -> cb.call(value.getAsLong())).register(registry);
    }

    /** Registers a gauge with one label, one series per entry of {@code values}, read at every scrape. */
    void gauge(String name, String help, String label, java.util.Map<String, LongSupplier> values) {
        GaugeWithCallback.builder().name(name).help(help).labelNames(label)
                .callback(cb -> values.forEach((value, supplier) -> cb.call(supplier.getAsLong(), value)))
                .register(registry);
    }

    /**
     * The metrics of one export and operation, with their labelled data points resolved once (at
     * wrap time), so recording a request on the I/O path does no label lookup.
     */
    Op op(String export, String op) {
        return new Op(export, op, requests.labelValues(export, op), bytes.labelValues(export, op),
                latency.labelValues(export, op));
    }

    /** Recorder for one export and operation; see {@link #op}. */
    final class Op {
        private final String export;
        private final String op;
        private final CounterDataPoint requests;
        private final CounterDataPoint bytes;
        private final DistributionDataPoint latency;

        private Op(String export, String op, CounterDataPoint requests, CounterDataPoint bytes,
                DistributionDataPoint latency) {
            this.export = export;
            this.op = op;
            this.requests = requests;
            this.bytes = bytes;
            this.latency = latency;
        }

        void record(long byteCount, long nanos, Throwable failure) {
            requests.inc();
            if (byteCount > 0) {
                bytes.inc(byteCount);
            }
            latency.observe(nanos / 1e9);
            if (failure != null) {
                errors.labelValues(export, op, kind(failure)).inc();
            }
        }
    }

    static String kind(Throwable failure) {
        return switch (failure) {
            case NoSpaceException e -> "no_space";
            case ReadOnlyDeviceException e -> "read_only";
            case OutOfRangeException e -> "out_of_range";
            case DeviceClosedException e -> "closed";
            case IllegalArgumentException e -> "invalid";
            default -> "io";
        };
    }

    /** Starts serving {@code /metrics} on {@code address}; returns the bound port. */
    int serve(InetSocketAddress address) throws IOException {
        http = HTTPServer.builder().hostname(address.getHostString()).port(address.getPort())
                .registry(registry).buildAndStart();
        return http.getPort();
    }

    @Override
    public void close() {
        if (http != null) {
            http.close();
        }
    }
}
