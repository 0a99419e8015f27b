-- wrk.lua: the request of tests/bench/run.sh's API load test, and its result as one
-- line of JSON ("BENCHJSON {...}") that run.sh keeps.
--
--   BENCH_WRK_BODY=JSON wrk ... -s wrk.lua URL    POST JSON to URL
--   wrk ... -s wrk.lua URL                         GET URL
--
-- The answers are counted by status code, so a POST that should be refused with 422
-- is seen to be refused (wrk itself only counts "non-2xx or 3xx").

local body = os.getenv("BENCH_WRK_BODY")
if body and body ~= "" then
	wrk.method = "POST"
	wrk.body = body
	wrk.headers["Content-Type"] = "application/json"
end

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	codes = {}
end

function response(status, headers, resp_body)
	codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
	local merged = {}
	for _, t in ipairs(threads) do
		for k, v in pairs(t:get("codes") or {}) do
			merged[k] = (merged[k] or 0) + v
		end
	end
	local parts = {}
	for k, v in pairs(merged) do
		parts[#parts + 1] = string.format('"%d":%d', k, v)
	end
	local e = summary.errors
	io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
		.. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,'
		.. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
		.. '"codes":{%s}}\n',
		summary.requests, summary.duration, summary.bytes,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency.mean, latency.max,
		e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
