-- Prints one machine-readable line at the end of a wrk run (latencies in microseconds), for faultline-bench.
-- Usage: wrk --latency -s bench/wrk/report.lua URL
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'FAULTLINE_BENCH {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
