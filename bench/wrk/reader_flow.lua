-- A reader's whole flow, chained: POST /v1/captchas, GET its image, POST /v1/comments with it.
-- Run with one connection per thread (wrk -tN -cN): wrk calls request() for a connection only
-- after its previous response, so each thread's state is one reader's place in the flow, and a
-- submission never goes out before its captcha was issued and its image fetched.
--
-- Environment: BENCH_WRK_DIR, BENCH_CODE (the test code), BENCH_OUT (see common.lua).
-- Each thread counts finished flows (202) and keeps each flow's time, issue to answer (µs).
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local ffi = require("ffi")

ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

setup = common.setup
done = common.done

local CONTENT = "Dự án cầu mới rất cần thiết cho người dân quận Long Biên, giờ cao điểm ùn tắc kéo dài "
  .. "hàng cây số mỗi sáng. Thành phố nên công khai tiến độ và chi phí để người dân cùng giám sát, "
  .. "tránh tình trạng đội vốn và chậm tiến độ như nhiều công trình trước. Tôi đồng ý với tác giả"

local ISSUE, IMAGE, SUBMIT = 1, 2, 3
local step, captcha_id, article, started, n, code = ISSUE, nil, nil, 0, 0, nil
flows, unexpected = 0, 0
flow_us = {}

function init(args)
  code = os.getenv("BENCH_CODE")
end

function request()
  local headers = { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = "10.1." .. tid .. "." .. (n % 250) }
  if step == ISSUE then
    n = n + 1
    article = "flow/" .. (n % 50)
    started = now_us()
    return wrk.format("POST", "/v1/captchas", headers, '{"article_id":"' .. article .. '"}')
  elseif step == IMAGE then
    return wrk.format("GET", "/v1/captchas/" .. captcha_id .. "/image", headers)
  end
  local body = '{"article_id":"' .. article .. '","name":"Nguyễn Văn An","title":"Ý kiến về dự án cầu",'
    .. '"content":"' .. CONTENT .. ' (' .. tid .. '-' .. n .. ')",'
    .. '"captcha_id":"' .. captcha_id .. '","captcha_answer":"' .. code .. '"}'
  return wrk.format("POST", "/v1/comments", headers, body)
end

function response(status, headers, body)
  if step == ISSUE and status == 201 then
    captcha_id = string.match(body, '"id": *"([^"]+)"')
    step = captcha_id and IMAGE or ISSUE
  elseif step == IMAGE and status == 200 then
    step = SUBMIT
  elseif step == SUBMIT and status == 202 then
    flows = flows + 1
    flow_us[#flow_us + 1] = now_us() - started
    step = ISSUE
  else
    unexpected = unexpected + 1  -- start a new flow
    step = ISSUE
  end
end
