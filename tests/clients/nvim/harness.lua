-- A tiny test harness for driving Neovim from inside: a test is a function run in a
-- coroutine; it can sleep and wait for conditions (the main loop keeps running, so keys
-- given to nvim_input are processed); a failure exits with `cquit 1`.
local T = {}

local co
local finished = false

local function log(msg)
  io.stderr:write("[nvim-test] " .. msg .. "\n")
end
T.log = log

local function finish(code, msg)
  if finished then
    return
  end
  finished = true
  if msg then
    log(msg)
  end
  vim.schedule(function()
    if code == 0 then
      vim.cmd("qa!")
    else
      vim.cmd(("cquit %d"):format(code))
    end
  end)
end

local function resume(...)
  if finished then
    return
  end
  local ok, err = coroutine.resume(co, ...)
  if not ok then
    finish(1, "FAIL: " .. debug.traceback(co, tostring(err)))
  elseif coroutine.status(co) == "dead" then
    finish(0, "PASS")
  end
end

function T.sleep(ms)
  vim.defer_fn(function()
    resume()
  end, ms)
  coroutine.yield()
end

--- Wait until cond() returns a truthy value (polled every 20 ms); returns that value.
function T.wait_for(cond, timeout_ms, what)
  local start = vim.uv.now()
  while true do
    local ok, v = pcall(cond)
    if ok and v then
      return v
    end
    if vim.uv.now() - start > timeout_ms then
      error(("timed out after %d ms waiting for %s%s"):format(timeout_ms, what or "condition",
        ok and "" or (" (last error: " .. tostring(v) .. ")")), 2)
    end
    T.sleep(20)
  end
end

--- Type keys as if from the keyboard, then let the main loop process them.
function T.input(keys, settle_ms)
  vim.api.nvim_input(keys)
  T.sleep(settle_ms or 50)
end

function T.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(("%s: expected %s, got %s"):format(what or "value", vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

--- Poll fn() until it equals `expected` (keys are processed asynchronously); fail with the
--- last value after timeout_ms (default 3000).
function T.expect(expected, fn, what, timeout_ms)
  local start = vim.uv.now()
  local last
  while true do
    local ok, v = pcall(fn)
    last = ok and v or ("error: " .. tostring(v))
    if ok and vim.deep_equal(expected, v) then
      return v
    end
    if vim.uv.now() - start > (timeout_ms or 3000) then
      error(("%s: expected %s, got %s"):format(what or "value", vim.inspect(expected), vim.inspect(last)), 2)
    end
    T.sleep(10)
  end
end

function T.line()
  return vim.api.nvim_get_current_line()
end

function T.cursor()
  return vim.api.nvim_win_get_cursor(0)
end

function T.truthy(v, what)
  if not v then
    error((what or "value") .. " is not truthy: " .. vim.inspect(v), 2)
  end
  return v
end

--- The Tailor client of the current buffer (waits for it to start and initialize).
function T.client(timeout_ms)
  return T.wait_for(function()
    local c = vim.lsp.get_clients({ name = "tailor", bufnr = 0 })[1]
    return c and c.initialized and c
  end, timeout_ms or 20000, "the tailor LSP client")
end

--- workspace/executeCommand, waiting for the reply: returns err, result.
function T.exec(command, arg, timeout_ms)
  local client = T.client()
  local done, e, r = false, nil, nil
  require("tailor.commands").execute(client, command, arg, function(err, result)
    done, e, r = true, err, result
  end, vim.api.nvim_get_current_buf())
  T.wait_for(function()
    return done
  end, timeout_ms or 10000, "reply to " .. command)
  return e, r
end

--- What the fake server has seen so far (its `fake.log` command: requests, settings...).
function T.fake_log()
  local _, log = T.exec("fake.log", vim.empty_dict())
  return log
end

--- Ghost text as shown: the plugin's extmarks in the current buffer -> "line1\nline2...".
function T.ghost(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local ns = require("tailor.ghost").ns
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local d = marks[1][4]
  local lines = {}
  local first = ""
  for _, chunk in ipairs(d.virt_text or {}) do
    first = first .. chunk[1]
  end
  lines[1] = first
  for _, vl in ipairs(d.virt_lines or {}) do
    local s = ""
    for _, chunk in ipairs(vl) do
      s = s .. chunk[1]
    end
    lines[#lines + 1] = s
  end
  return table.concat(lines, "\n"), { row = marks[1][2], col = marks[1][3], count = #marks }
end

function T.lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

--- Run the test function; `timeout_s` is a watchdog for the whole test.
-- vim.notify captured into T.notes ({msg, level} in order; set T.notes = {} to start over);
-- T.find_note finds one containing `text` (plain), at `level` when given. Echoed to stderr,
-- so a failing case shows what the user would have seen.
function T.capture_notes()
  T.notes = {}
  vim.notify = function(msg, level)
    T.notes[#T.notes + 1] = { msg = msg, level = level }
    io.stderr:write(("[nvim-test] notify(%s): %s\n"):format(tostring(level), msg))
  end
end

function T.find_note(text, level)
  for _, n in ipairs(T.notes or {}) do
    if n.msg:find(text, 1, true) and (level == nil or n.level == level) then
      return n
    end
  end
end

function T.run(fn, timeout_s)
  vim.defer_fn(function()
    finish(3, ("FAIL: watchdog: test did not finish within %d s"):format(timeout_s or 60))
  end, (timeout_s or 60) * 1000)
  co = coroutine.create(fn)
  vim.schedule(resume)
end

return T
