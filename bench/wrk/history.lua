-- wrk -s bench/wrk/history.lua: GET the newest 50 messages of $RL_ROOM as $RL_UID/$RL_TOKEN.
wrk.method = "GET"
wrk.path = "/api/rooms/" .. os.getenv("RL_ROOM") .. "/messages?count=50"
wrk.headers["X-User-Id"] = os.getenv("RL_UID")
wrk.headers["X-Auth-Token"] = os.getenv("RL_TOKEN")
