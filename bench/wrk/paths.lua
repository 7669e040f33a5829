-- Cycles over N distinct paths (default 1000) that stay distinct after Faultline's route normalization
-- ("/server/r17/items" keeps "r17"), and prints the same summary line as report.lua.
-- Usage: wrk --latency -s bench/wrk/paths.lua URL -- 1000
local requests_by_index = {}
local count = 0
local next_index = 0

init = function(args)
  count = tonumber(args[1]) or 1000
  for i = 1, count do
    requests_by_index[i] = wrk.format("GET", "/server/r" .. i .. "/items")
  end
end

request = function()
  next_index = next_index % count + 1
  return requests_by_index[next_index]
end

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
