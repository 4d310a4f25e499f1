-- wrk script of scripts/soak.sh: a mix of request classes against whoami_server's /whoami, each
-- answer checked against what its class must get (status and reason code, or the account).
--
-- One connection per thread (wrk -t N -c N): answers then come in the order of the requests,
-- so each thread checks them against a queue of expectations. wrk 4.1 sometimes calls request()
-- once more than it sends when a thread's connection starts: an expectation is skipped only when
-- the answer is exactly what the next one expects, and at most once per thread (more fails).

local dir = os.getenv("SOAK_TOKENS")

local function lines(name)
  local list = {}
  for line in io.lines(dir .. "/" .. name) do
    if line ~= "" then list[#list + 1] = line end
  end
  assert(#list > 0, name .. " is empty")
  return list
end

-- class: weight, how to make its Authorization header, and the expected status and reason
-- (reason nil: a 200 whose body names the allowed account).
local classes = {
  { name = "cached",         weight = 40, status = 200 },
  { name = "fresh",          weight = 20, status = 200 },
  { name = "garbage",        weight = 7,  status = 401, reason = "proof.bad_encoding" },
  { name = "garbage_header", weight = 3,  status = 400, reason = "token.malformed" },
  { name = "unknown_prefix", weight = 4,  status = 401, reason = "proof.format_not_accepted" },
  { name = "not_bearer",     weight = 3,  status = 401, reason = "token.missing" },
  { name = "missing",        weight = 3,  status = 401, reason = "token.missing" },
  { name = "expired",        weight = 6,  status = 401, reason = "proof.expired" },
  { name = "wrong_audience", weight = 6,  status = 401, reason = "sts.rejected" },
  { name = "other_account",  weight = 4,  status = 403, reason = "policy.denied" },
  { name = "jwt",            weight = 4,  status = 401, reason = "proof.format_not_accepted" },
}

local total_weight = 0
for _, class in ipairs(classes) do total_weight = total_weight + class.weight end

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count - 1)
  table.insert(threads, thread)
end

local tokens = {}
local fresh_next = 0
local expected = {}
local head, tail = 1, 0
checked, wrong, skipped = 0, 0, 0
counts, wrong_kinds = {}, {}

function init(args)
  for _, name in ipairs({ "cached", "fresh", "expired", "wrong_audience", "other_account", "jwt" }) do
    tokens[name] = lines(name)
  end
  fresh_next = id
  math.randomseed(1000 + id)
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local function random_text(n, extra)
  local out = {}
  for i = 1, n do
    local k = math.random(1, #alphabet)
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out) .. (extra or "")
end

local function pick(list)
  return list[math.random(1, #list)]
end

local function authorization(class)
  local name = class.name
  if name == "fresh" then
    -- Each thread walks its own share of the fresh proofs, round and round.
    local list = tokens.fresh
    local token = list[(fresh_next % #list) + 1]
    fresh_next = fresh_next + thread_count_hint
    return "Bearer " .. token
  elseif name == "garbage" then
    -- A native prefix, then a bearer token (token68) that is not base64url: `+` and `~`.
    return "Bearer iam-v1." .. random_text(math.random(10, 400), "+~")
  elseif name == "garbage_header" then
    -- Not even a bearer token: characters outside token68.
    return "Bearer " .. random_text(math.random(10, 400), "!*")
  elseif name == "unknown_prefix" then
    return "Bearer " .. random_text(math.random(8, 200))
  elseif name == "not_bearer" then
    return "Basic " .. random_text(24)
  elseif name == "missing" then
    return nil
  else
    return "Bearer " .. pick(tokens[name])
  end
end

thread_count_hint = tonumber(os.getenv("SOAK_THREADS") or "1")

function request()
  local r = math.random(1, total_weight)
  local class
  for _, c in ipairs(classes) do
    r = r - c.weight
    if r <= 0 then class = c break end
  end
  tail = tail + 1
  expected[tail] = class
  local headers = {}
  local value = authorization(class)
  if value then headers["Authorization"] = value end
  return wrk.format("GET", "/whoami", headers)
end

local function answers(class, status, reason, body)
  if class == nil then return false end
  if class.reason == nil then
    return status == class.status and body:find('"account":"123456789012"', 1, true) ~= nil
  end
  return status == class.status and reason == class.reason
end

function response(status, headers, body)
  local reason = body:match('"reason":"([^"]+)"')
  local class = expected[head]
  if not answers(class, status, reason, body) and answers(expected[head + 1], status, reason, body) then
    -- The expectation of a request() call whose request was never sent.
    expected[head] = nil
    head = head + 1
    skipped = skipped + 1
    class = expected[head]
  end
  expected[head] = nil
  head = head + 1
  checked = checked + 1
  local name = class and class.name or "unexpected"
  counts[name] = (counts[name] or 0) + 1
  if not answers(class, status, reason, body) then
    wrong = wrong + 1
    local kind = string.format("%s got %d %s", name, status, reason or body:sub(1, 80))
    wrong_kinds[kind] = (wrong_kinds[kind] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total_checked, total_wrong, total_skipped = 0, 0, 0
  local per_class = {}
  for _, thread in ipairs(threads) do
    total_checked = total_checked + thread:get("checked")
    total_wrong = total_wrong + thread:get("wrong")
    total_skipped = total_skipped + thread:get("skipped")
    for kind, n in pairs(thread:get("wrong_kinds")) do
      io.write(string.format("WRONG %s: %d\n", kind, n))
    end
    for name, n in pairs(thread:get("counts")) do
      per_class[name] = (per_class[name] or 0) + n
    end
  end
  local e = summary.errors
  local names = {}
  for name in pairs(per_class) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    io.write(string.format("SOAK class %s %d\n", name, per_class[name]))
  end
  io.write(string.format("SOAK requests %d\n", summary.requests))
  io.write(string.format("SOAK checked %d\n", total_checked))
  if total_skipped > #threads then
    io.write(string.format("WRONG more skipped expectations (%d) than threads\n", total_skipped))
    total_wrong = total_wrong + total_skipped
  end
  io.write(string.format("SOAK wrong %d\n", total_wrong))
  io.write(string.format("SOAK skipped %d\n", total_skipped))
  io.write(string.format("SOAK socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("SOAK p99_ms %.2f\n", latency:percentile(99) / 1000))
end
