-- wrk -s bench/wrk/history-etag.lua: history.lua with If-None-Match: $RL_ETAG (the ETag of
-- the page, as a polling client sends it); every answer should be 304 with no body.
wrk.method = "GET"
wrk.path = "/api/rooms/" .. os.getenv("RL_ROOM") .. "/messages?count=50"
wrk.headers["X-User-Id"] = os.getenv("RL_UID")
wrk.headers["X-Auth-Token"] = os.getenv("RL_TOKEN")
wrk.headers["If-None-Match"] = os.getenv("RL_ETAG")
