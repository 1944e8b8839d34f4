-- wrk: POST one pod per request (generateName makes each unique).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"bench-","labels":{"app":"bench","tier":"load"}},"spec":{"containers":[{"name":"c","image":"busybox:1.36","command":["sleep","3600"],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}'
