-- wrk script: POST the bytes of the file named by $FG_BENCH_BODY_FILE as JSON.
-- Extra headers (auth, provider routing) come from wrk's own -H options.
local path = assert(os.getenv("FG_BENCH_BODY_FILE"), "FG_BENCH_BODY_FILE is not set")
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
