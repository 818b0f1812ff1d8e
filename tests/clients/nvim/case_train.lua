-- :TailorTrain sends tailor.trainAdapter {uri, budget}; the $/progress of the job is echoed
-- and shown in the statusline; the result is notified once (the server's showMessage with
-- the same text is not repeated); :TailorTrainCancel sends window/workDoneProgress/cancel.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

-- Record notifications and echoes (headless Neovim shows neither).
local notes, echoes = {}, {}
vim.notify = function(msg, level)
  notes[#notes + 1] = { msg = msg, level = level }
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

local function count_notes(pattern)
  local n = 0
  for _, note in ipairs(notes) do
    if note.msg:find(pattern, 1, true) then
      n = n + 1
    end
  end
  return n
end

local function job(id)
  local _, st = T.exec("tailor.status", vim.empty_dict())
  for _, j in ipairs(st.jobs or {}) do
    if j.id == id then
      return j
    end
  end
end

T.run(function()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  T.client()
  local uri = vim.uri_from_bufnr(0)
  local log = T.fake_log()
  T.eq(true, log.workDoneProgress, "the client advertises window.workDoneProgress")

  -- A bad budget is refused before anything is sent.
  vim.cmd("TailorTrain soon")
  T.truthy(find_note("bad training budget"), "bad budget notified: " .. vim.inspect(notes))
  T.eq(vim.log.levels.ERROR, find_note("bad training budget").level, "bad budget is an error")
  log = T.fake_log()
  T.eq(0, #log.train, "nothing sent for a bad budget")

  -- :TailorTrain 30s: the argument, the start, the progress, the statusline, the result.
  vim.cmd("TailorTrain 30s")
  T.wait_for(function()
    log = T.fake_log()
    return #log.train == 1
  end, 3000, "tailor.trainAdapter")
  T.eq({ uri = uri, budget = "30s" }, log.train[1], "trainAdapter argument")
  T.wait_for(function()
    return find_note("training started %(job train%-1, budget 30s%)")
  end, 3000, "the start notification")
  local seen_statusline
  T.wait_for(function()
    local s = require("tailor").statusline()
    if s:find("training %d+%%") then
      seen_statusline = s
    end
    return seen_statusline and #require("tailor.train").running() == 1
  end, 3000, "statusline 'training NN%' while the job runs")
  T.truthy(seen_statusline:find("^Tailor: fake%-model · base · base · training %d+%%$"), seen_statusline)
  local result = T.wait_for(function()
    return find_note("adapter trained and active")
  end, 5000, "the result notification")
  T.eq("Tailor: repo: adapter trained and active (held-out loss 2.000 -> 1.500, next-line exact match 10% -> 20%)",
    result.msg, "result text")
  T.eq(vim.log.levels.INFO, result.level, "result level")
  -- Progress lines were echoed, with their percentage and message.
  local progress_lines = vim.tbl_filter(function(e)
    return e:find("^Tailor: training repo %d+%%")
  end, echoes)
  T.truthy(#progress_lines >= 3, "progress echoed: " .. vim.inspect(echoes))
  T.truthy(vim.tbl_contains(progress_lines, "Tailor: training repo 50% · 1.0k tokens, loss 1.750"),
    "a report with percentage and message: " .. vim.inspect(progress_lines))
  -- The server's window/showMessage repeats the summary: it is not shown a second time.
  T.sleep(300)
  T.eq(1, count_notes("adapter trained and active"), "result notified once")
  local messages = vim.fn.execute("messages")
  T.truthy(not messages:find("adapter trained and active", 1, true), "showMessage not echoed again:\n" .. messages)
  T.wait_for(function()
    return require("tailor").statusline() == "Tailor: fake-model · base · base"
  end, 3000, "statusline without training after the job")
  T.eq(0, #require("tailor.train").running(), "no running training")
  T.eq("done", job("train-1").state, "job state")

  -- :TailorStatus lists the job with its state and result.
  vim.cmd("TailorStatus")
  local desc = T.wait_for(function()
    return find_note("^Tailor status")
  end, 3000, ":TailorStatus")
  T.truthy(desc.msg:find("adapterState:%s+base"), desc.msg)
  T.truthy(desc.msg:find("train%-1  train  done  budget 30s  "), desc.msg)
  T.truthy(desc.msg:find("adapter trained and active", 1, true), desc.msg)

  -- Without a budget the settings' default is used (the fake's default job is long);
  -- :TailorTrainCancel cancels it through its progress token.
  notes = {}
  require("tailor").train()
  T.wait_for(function()
    return #require("tailor.train").running() == 1
  end, 3000, "second training running")
  log = T.fake_log()
  T.eq({ uri = uri }, log.train[2], "trainAdapter argument without a budget")
  T.wait_for(function()
    return require("tailor").statusline():find("training %d+%%")
  end, 3000, "statusline while training")
  vim.cmd("TailorTrainCancel")
  T.truthy(find_note("cancelling training of repo"), "cancel notified: " .. vim.inspect(notes))
  T.wait_for(function()
    log = T.fake_log()
    return #log.progressCancelled == 1
  end, 3000, "window/workDoneProgress/cancel at the server")
  T.eq("fake-train-2", log.progressCancelled[1], "the job's progress token")
  local cancelled = T.wait_for(function()
    return find_note("training cancelled; nothing saved")
  end, 3000, "the cancelled result")
  T.eq("Tailor: repo: training cancelled; nothing saved", cancelled.msg, "cancel text")
  T.eq(vim.log.levels.WARN, cancelled.level, "cancel level")
  T.eq("cancelled", job("train-2").state, "job state after cancel")
  T.expect("Tailor: fake-model · base · base", require("tailor").statusline, "statusline after cancel")

  -- Nothing running: :TailorTrainCancel says so and sends nothing.
  notes = {}
  vim.cmd("TailorTrainCancel")
  T.truthy(find_note("no training is running"), "nothing to cancel: " .. vim.inspect(notes))
  log = T.fake_log()
  T.eq(1, #log.progressCancelled, "no further cancel sent")
end, 30)
