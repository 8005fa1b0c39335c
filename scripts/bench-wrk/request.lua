-- wrk script of scripts/bench: one fixed request, described by
-- mcp-oauth-bench in the environment (method, body, and headers as
-- "name: value" lines). wrk sends it as is on every connection; no
-- per-request Lua runs, so the generator costs what plain wrk costs.
local method = os.getenv("MCP_BENCH_METHOD")
if method and method ~= "" then
  wrk.method = method
end
local body = os.getenv("MCP_BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
end
local headers = os.getenv("MCP_BENCH_HEADERS") or ""
for line in headers:gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end
