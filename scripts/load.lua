-- wrk script: each request carries the next proof of $LOAD_TOKENS (one per line), so that every
-- request is a cache miss verified by LocalSts. Each of wrk's $LOAD_THREADS threads takes its own
-- share of the list; `done` reports how many proofs were sent, and says "proofs reused" when a
-- thread ran past its share (its tail would be cache hits).
local tokens = {}
local next_token = 1
-- Globals, read by `done` through `thread:get`.
sent = 0
share = 0

local threads = {}
local listed

function setup(thread)
  if not listed then
    listed = 0
    for _ in io.lines(os.getenv("LOAD_TOKENS")) do
      listed = listed + 1
    end
  end
  threads[#threads + 1] = thread
  local each = math.floor(listed / tonumber(os.getenv("LOAD_THREADS") or "1"))
  thread:set("offset", (#threads - 1) * each)
  thread:set("share", each)
end

function init(args)
  for line in io.lines(os.getenv("LOAD_TOKENS")) do
    tokens[#tokens + 1] = "Bearer " .. line
  end
  next_token = (tonumber(offset) or 0) + 1
end

function request()
  local token = tokens[((next_token - 1) % #tokens) + 1]
  next_token = next_token + 1
  sent = sent + 1
  return wrk.format("GET", "/ping", { ["Authorization"] = token })
end

function done(summary, latency, requests)
  local total, reused = 0, false
  for _, thread in ipairs(threads) do
    local count = thread:get("sent")
    total = total + count
    reused = reused or count > thread:get("share")
  end
  io.write(string.format("fresh proofs sent: %d of %d listed\n", total, listed))
  if reused then
    io.write("proofs reused: a thread sent more than its share of the list\n")
  end
end
