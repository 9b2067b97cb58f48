-- wrk script for the e2e tests: counts responses per status and per body (first line, up to 40
-- bytes), stops each thread after its share of a request budget, and prints one machine-readable
-- summary. Arguments (after `--`): TOTAL_BUDGET THREADS [DONE_FILE] (budget 0 = no budget: the
-- duration bounds it). wrk's main thread sleeps for the whole duration even when every thread
-- stopped, so a thread that spent its budget appends a line to DONE_FILE; the harness sends
-- SIGINT once it has one line per thread, and wrk prints its summary at once.
--
--   WRK_SUMMARY requests=N duration_us=N connect=N read=N write=N timeout=N status_errors=N p50_us=N p99_us=N max_us=N
--   WRK_STATUS 200 12345
--   WRK_BODY blue 6000

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  bodies = {}
  answered = 0
  local budget = tonumber(args[1] or "0")
  local nthreads = tonumber(args[2] or "1")
  done_file = args[3]
  limit = 0
  if budget > 0 then
    limit = math.ceil(budget / nthreads)
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local key = "-"
  if body ~= nil and #body > 0 then
    key = string.sub(string.match(body, "^[^\n]*") or "", 1, 40)
    key = string.gsub(key, "%s", "_")
    if key == "" then key = "-" end
  end
  bodies[key] = (bodies[key] or 0) + 1
  answered = answered + 1
  if limit > 0 and answered == limit then
    if done_file then
      local f = io.open(done_file, "a")
      f:write("done\n")
      f:close()
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local s, b = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do s[k] = (s[k] or 0) + v end
    for k, v in pairs(t:get("bodies")) do b[k] = (b[k] or 0) + v end
  end
  local e = summary.errors
  io.write(string.format(
    "WRK_SUMMARY requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d status_errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50.0), latency:percentile(99.0), latency.max))
  for k, v in pairs(s) do io.write(string.format("WRK_STATUS %d %d\n", k, v)) end
  for k, v in pairs(b) do io.write(string.format("WRK_BODY %s %d\n", k, v)) end
end
