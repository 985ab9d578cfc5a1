-- GET / of bench/wrk/hello_app.py (the aiohttp ceiling): a static request, only the figures written.
-- Environment: BENCH_WRK_DIR, BENCH_OUT (see common.lua).
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

setup = common.setup
done = common.done
