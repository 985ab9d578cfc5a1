-- Isso's POST /new?uri=...: the same comment text as post_comments.lua, spread over 50 threads
-- (articles), each created with a title so Isso never fetches the page. Isso's guard (its rate
-- limit) is off in the bench's configuration; moderation is off, so each comment is published.
-- Environment: BENCH_WRK_DIR, BENCH_OUT (see common.lua).
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

setup = common.setup
done = common.done

local CONTENT = "Dự án cầu mới rất cần thiết cho người dân quận Long Biên, giờ cao điểm ùn tắc kéo dài "
  .. "hàng cây số mỗi sáng. Thành phố nên công khai tiến độ và chi phí để người dân cùng giám sát, "
  .. "tránh tình trạng đội vốn và chậm tiến độ như nhiều công trình trước. Tôi đồng ý với tác giả"

local n = 0
ok, unexpected = 0, 0

function request()
  n = n + 1
  local body = '{"author":"Nguyễn Văn An","title":"Ý kiến về dự án cầu","text":"' .. CONTENT
    .. ' (' .. tid .. '-' .. n .. ')"}'
  return wrk.format("POST", "/new?uri=%2Fbench%2F" .. (n % 50),
    { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status == 201 or status == 202 then
    ok = ok + 1
  else
    unexpected = unexpected + 1
  end
end
