-- End to end with the real `tailor serve`: :TailorTrain 30s trains the test repository's
-- adapter in the server's child process; progress is echoed and shown in the statusline,
-- the job ends in state "done" and the result is notified.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")
local timeout_s = tonumber(vim.env.TAILOR_TEST_TIMEOUT or "240")

local notes, echoes = {}, {}
vim.notify = function(msg, level)
  notes[#notes + 1] = { msg = msg, level = level, at = vim.uv.now() }
  T.log("notify: " .. msg)
end
local real_echo = vim.api.nvim_echo
vim.api.nvim_echo = function(chunks, history, opts)
  local text = ""
  for _, c in ipairs(chunks) do
    text = text .. c[1]
  end
  if text ~= "" then
    echoes[#echoes + 1] = text
  end
  return real_echo(chunks, history, opts)
end

local function find_note(pattern)
  for _, n in ipairs(notes) do
    if n.msg:find(pattern) then
      return n
    end
  end
end

T.run(function()
  local t0 = vim.uv.now()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  T.client(60000)
  vim.cmd("TailorTrain 30s")
  local started = T.wait_for(function()
    return find_note("^Tailor: training started")
  end, 30000, "the start notification")
  local job_id = started.msg:match("job (train%-%d+)")
  T.truthy(job_id, "job id in " .. started.msg)

  -- Wait for the result; note what the statusline shows meanwhile.
  local deadline = vim.uv.now() + (timeout_s - 20) * 1000
  local statusline_training
  local result
  while not result do
    local s = require("tailor").statusline()
    if s:find("training %d+%%") then
      statusline_training = s
    end
    result = find_note("adapter trained and active") or find_note("adapter stored but not used")
      or find_note("training failed") or find_note("training cancelled")
    if vim.uv.now() > deadline then
      error("no training result within the deadline; echoes: " .. vim.inspect(echoes))
    end
    T.sleep(200)
  end
  T.log(("result after %d ms: %s"):format(vim.uv.now() - t0, result.msg))
  T.truthy(result.msg:find("^Tailor: repo: adapter "), "a trained adapter: " .. result.msg)
  T.truthy(statusline_training, "statusline showed 'training NN%'")
  T.log("statusline while training: " .. statusline_training)
  local progress = vim.tbl_filter(function(e)
    return e:find("^Tailor: training repo %d+%%")
  end, echoes)
  T.truthy(#progress >= 2, "progress echoed: " .. vim.inspect(echoes))
  T.log(("%d progress lines, last: %s"):format(#progress, progress[#progress]))

  local err, status = T.exec("tailor.status", vim.empty_dict(), 30000)
  T.eq(nil, err, "tailor.status error")
  local job
  for _, j in ipairs(status.jobs) do
    if j.id == job_id then
      job = j
    end
  end
  T.truthy(job, "job in tailor.status")
  T.eq("done", job.state, "job state")
  T.eq("30s", job.budget, "job budget")
  T.truthy(result.msg:find(job.message, 1, true), "notified text is the job's message")
  T.log("status: " .. require("tailor").statusline())
  -- The server's showMessage repeats the summary; it was shown once.
  T.sleep(500)
  local n = 0
  for _, note in ipairs(notes) do
    if note.msg:find(job.message, 1, true) then
      n = n + 1
    end
  end
  T.eq(1, n, "result notified once")
end, timeout_s)
