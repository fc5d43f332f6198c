-- wrk script: POST the body file named by $FG_BENCH_BODY_FILE with its ten-digit
-- placeholder 0000000000 replaced by a number unique to each request (thread id and a
-- counter), so a cache keyed on the body misses every time; the body length never changes.
local path = assert(os.getenv("FG_BENCH_BODY_FILE"), "FG_BENCH_BODY_FILE is not set")
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()
local at = assert(body:find("0000000000", 1, true), "the body has no 0000000000 placeholder")
local before, after = body:sub(1, at - 1), body:sub(at + 10)

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"  -- the -H headers (auth) stay in wrk.headers

local counter = 0
function request()
  counter = counter + 1
  local unique = string.format("%02d%08d", id % 100, counter % 100000000)
  return wrk.format(nil, nil, nil, before .. unique .. after)
end
