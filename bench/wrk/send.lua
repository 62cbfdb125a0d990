-- wrk -s bench/wrk/send.lua: POST /api/rooms/$RL_ROOM/send as $RL_UID/$RL_TOKEN (see BENCHMARKS.md).
wrk.method = "POST"
wrk.path = "/api/rooms/" .. os.getenv("RL_ROOM") .. "/send"
wrk.body = '{"msg":"hello from wrk"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-User-Id"] = os.getenv("RL_UID")
wrk.headers["X-Auth-Token"] = os.getenv("RL_TOKEN")
