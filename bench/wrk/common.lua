-- Shared by the bench's wrk scripts (loaded with dofile from each one):
-- numbering the threads, giving each thread its share of the pre-issued captchas, and writing
-- the run's figures (rate, latency percentiles to p99.9, errors, the scripts' own counters) as
-- JSON to $BENCH_OUT, which bench/compare.py reads. wrk's own --latency output stops at p99.
local M = {}

local threads = {}
local next_id = 0
local COUNTERS = { "ok", "exhausted", "unexpected", "flows" }

-- setup() runs in wrk's main Lua state, once per thread, before the threads start.
function M.setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- The lines of `path` that belong to thread `tid` of `nthreads` (every nthreads-th), so no two
-- threads ever send the same captcha.
function M.lines(path, tid, nthreads)
  local out, i = {}, 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      out[#out + 1] = line
    end
    i = i + 1
  end
  return out
end

function M.split(line)
  local fields = {}
  for field in string.gmatch(line, "[^\t]+") do
    fields[#fields + 1] = field
  end
  return fields
end

local function number_list(values)
  local parts = {}
  for i = 1, #values do
    parts[i] = string.format("%.0f", values[i])
  end
  return "[" .. table.concat(parts, ",") .. "]"
end

-- done() runs in the main state after the run: wrk's summary plus every thread's counters.
function M.done(summary, latency, requests)
  local path = os.getenv("BENCH_OUT")
  if not path then
    return
  end
  local counters = {}
  local flow_us = {}
  for _, thread in ipairs(threads) do
    for _, name in ipairs(COUNTERS) do
      local value = thread:get(name)
      if type(value) == "number" then
        counters[name] = (counters[name] or 0) + value
      end
    end
    local lat = thread:get("flow_us")
    if type(lat) == "table" then
      for i = 1, #lat do
        flow_us[#flow_us + 1] = lat[i]
      end
    end
  end
  local parts = {}
  for name, value in pairs(counters) do
    parts[#parts + 1] = string.format('"%s": %d', name, value)
  end
  local e = summary.errors
  local out = assert(io.open(path, "w"))
  out:write(string.format(
    '{"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %.1f, "p90": %.1f, "p99": %.1f, "p999": %.1f, "max": %.1f, "mean": %.1f}, ' ..
    '"counters": {%s}, "flow_us": %s}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean,
    table.concat(parts, ", "), number_list(flow_us)))
  out:close()
end

return M
