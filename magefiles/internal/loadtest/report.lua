-- Prints a wrk run's figures as one JSON line, for package loadtest.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\n{"requests":%d,"duration_us":%d,"p99_us":%d,"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
