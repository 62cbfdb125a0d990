-- wrk -s bench/wrk/history-v1.lua: GET /api/v1/channels.history, the default page (20) of $RL_ROOM.
wrk.method = "GET"
wrk.path = "/api/v1/channels.history?roomId=" .. os.getenv("RL_ROOM")
wrk.headers["X-User-Id"] = os.getenv("RL_UID")
wrk.headers["X-Auth-Token"] = os.getenv("RL_TOKEN")
