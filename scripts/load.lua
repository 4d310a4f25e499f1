-- wrk script: each request carries the next proof of $LOAD_TOKENS (one per line), so that every
-- request is a cache miss verified by LocalSts until the list runs out. `done` reports how many
-- requests were sent, so that a run longer than the list is visible (its tail would be hits).
local tokens = {}
local next_token = 1
local sent = 0

function init(args)
  for line in io.lines(os.getenv("LOAD_TOKENS")) do
    tokens[#tokens + 1] = "Bearer " .. line
  end
  -- Each wrk thread starts at its own offset of the list (`offset` is set by `setup`).
  next_token = (tonumber(offset) or 0) + 1
end

function setup(thread)
  thread_count = (thread_count or 0) + 1
  thread:set("offset", (thread_count - 1) * 30000)
end

function request()
  local token = tokens[((next_token - 1) % #tokens) + 1]
  next_token = next_token + 1
  sent = sent + 1
  return wrk.format("GET", "/ping", { ["Authorization"] = token })
end
