-- POST /v1/comments, each request with its own pre-issued captcha (bench/compare.py writes them,
-- sealed with the service's secret, in captcha test mode): so every request is the full path,
-- captcha verified and consumed, validated, scored, stored and queued durably.
--
-- Environment: BENCH_WRK_DIR (this directory), BENCH_CAPTCHAS (a file of
-- "<captcha id>\t<article id>\t<client address>" lines), BENCH_THREADS (wrk's -t), BENCH_CODE
-- (the test code), BENCH_OUT (where common.lua writes the figures).
-- The client address goes out as X-Forwarded-For: the service trusts it from 127.0.0.1 in the
-- bench, so with rate limits on each request counts against its own reader, as on a portal.
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

setup = common.setup
done = common.done

-- About 300 characters of a reader's comment; the request number makes each one distinct, so
-- the repeat detection sees no copies.
local CONTENT = "Dự án cầu mới rất cần thiết cho người dân quận Long Biên, giờ cao điểm ùn tắc kéo dài "
  .. "hàng cây số mỗi sáng. Thành phố nên công khai tiến độ và chi phí để người dân cùng giám sát, "
  .. "tránh tình trạng đội vốn và chậm tiến độ như nhiều công trình trước. Tôi đồng ý với tác giả"

local captchas, next_captcha, code
ok, exhausted, unexpected = 0, 0, 0

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  captchas = common.lines(os.getenv("BENCH_CAPTCHAS"), tid, nthreads)
  next_captcha = 1
  code = os.getenv("BENCH_CODE")
end

function request()
  if next_captcha > #captchas then
    -- Out of captchas: start again (each one then answers 422, counted as an error) and say so.
    exhausted = exhausted + 1
    next_captcha = 1
  end
  local f = common.split(captchas[next_captcha])
  local n = next_captcha
  next_captcha = next_captcha + 1
  local body = '{"article_id":"' .. f[2] .. '","name":"Nguyễn Văn An","title":"Ý kiến về dự án cầu",'
    .. '"content":"' .. CONTENT .. ' (' .. tid .. '-' .. n .. ')",'
    .. '"captcha_id":"' .. f[1] .. '","captcha_answer":"' .. code .. '"}'
  return wrk.format("POST", "/v1/comments",
    { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = f[3] }, body)
end

function response(status, headers, body)
  if status == 202 then
    ok = ok + 1
  else
    unexpected = unexpected + 1
  end
end
