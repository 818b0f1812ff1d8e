-- Adapter training from the editor: `:TailorTrain [budget]` runs `tailor.trainAdapter`
-- (see commands.lua); this module follows the job's `$/progress` (Neovim's LspProgress
-- autocommand), echoes it, reports the result with vim.notify, and cancels it
-- (`window/workDoneProgress/cancel`, `:TailorTrainCancel`).
local util = require("tailor.util")

local M = {}

M.opts = {
  -- Echo each progress report in the command line ("Tailor: training repo 42% · …").
  -- Set false when a progress UI (fidget.nvim, a statusline component) already shows
  -- LSP progress; the start and the result are still notified.
  echo = true,
}

--- Running trainings seen through $/progress: key "client_id:token" -> entry
--- { client_id, token, repo, percentage, message }.
M.active = {}
--- Last progress line echoed (for tests and statusline components).
M.last_echo = nil
--- Summaries already notified (summary -> time in ms), so that the server's
--- window/showMessage with the same text is not shown twice.
M.notified = {}

local TITLE = "^Tailor: train"
local DEDUPE_MS = 60000

local function now()
  return util.uv.now()
end

local function is_number_text(s)
  return s:match("^%d+$") ~= nil or s:match("^%d+%.%d+$") ~= nil
end

--- Check a training budget as the server does: "90s", "10m", "1h" or "200k-tokens",
--- "5000-tokens", "1m-tokens". Returns the trimmed budget, or nil and a message.
function M.check_budget(text)
  local s = vim.trim(tostring(text or ""))
  local lower = s:lower()
  local num = lower:match("^([%d%.]+)%s*[smh]$")
  if num and is_number_text(num) and tonumber(num) > 0 then
    return s
  end
  local scale
  num, scale = lower:match("^([%d%.]+)%s*([km]?)[-%s]?tokens$")
  if num and is_number_text(num) then
    local factor = ({ [""] = 1, k = 1000, m = 1000000 })[scale]
    if math.floor(tonumber(num) * factor) > 0 then
      return s
    end
  end
  return nil, ("bad training budget %q: give a positive duration such as 90s, 10m or 1h, "
    .. "or a token count such as 200k-tokens"):format(s)
end

--- Notification level for a result summary.
function M.level(summary)
  summary = summary or ""
  if summary:find("^training failed") then
    return vim.log.levels.ERROR
  end
  if summary:find("^training cancelled") or summary:find("not used") then
    return vim.log.levels.WARN
  end
  return vim.log.levels.INFO
end

--- One progress line: "Tailor: training <repo> 42% · <message>".
function M.progress_text(entry)
  local parts = { "Tailor: training" }
  if entry.repo and entry.repo ~= "" then
    parts[#parts + 1] = entry.repo
  end
  parts[#parts + 1] = ("%d%%"):format(entry.percentage or 0)
  local text = table.concat(parts, " ")
  if entry.message and entry.message ~= "" then
    text = text .. " · " .. entry.message
  end
  return text
end

local function echo(text)
  M.last_echo = text
  if not M.opts.echo then
    return
  end
  local width = math.max(vim.v.echospace or 0, 20) - 1
  if vim.fn.strdisplaywidth(text) > width then
    text = vim.fn.strcharpart(text, 0, width - 1) .. "…"
  end
  pcall(vim.api.nvim_echo, { { text, "Normal" } }, false, {})
end

--- Handle one $/progress notification of a Tailor client (LspProgress autocommand data).
function M.on_progress(client_id, params)
  if type(params) ~= "table" or type(params.value) ~= "table" then
    return
  end
  local value = params.value
  local key = tostring(client_id) .. ":" .. tostring(params.token)
  if value.kind == "begin" then
    if type(value.title) ~= "string" or not value.title:find(TITLE) then
      return
    end
    local entry = {
      client_id = client_id,
      token = params.token,
      repo = type(value.message) == "string" and value.message or nil,
      percentage = type(value.percentage) == "number" and value.percentage or 0,
      message = "",
      cancellable = value.cancellable,
    }
    M.active[key] = entry
    echo(M.progress_text(entry))
  elseif value.kind == "report" then
    local entry = M.active[key]
    if not entry then
      return
    end
    if type(value.percentage) == "number" then
      entry.percentage = value.percentage
    end
    if type(value.message) == "string" then
      entry.message = value.message
    end
    echo(M.progress_text(entry))
  elseif value.kind == "end" then
    local entry = M.active[key]
    if not entry then
      return
    end
    M.active[key] = nil
    local summary = type(value.message) == "string" and value.message or "training finished"
    M.notified[summary] = now()
    M.last_echo = nil
    pcall(vim.api.nvim_echo, { { "" } }, false, {})
    vim.notify(("Tailor: %s: %s"):format(entry.repo or "training", summary), M.level(summary))
    pcall(vim.cmd, "redrawstatus")
  end
end

--- window/showMessage handler: the server repeats the training result as a message; skip
--- it when the same summary was just notified from the progress end, else show it as
--- Neovim does.
function M.show_message_handler(err, params, ctx, config)
  if type(params) == "table" and type(params.message) == "string" then
    local t = now()
    for summary, at in pairs(M.notified) do
      if t - at > DEDUPE_MS then
        M.notified[summary] = nil
      elseif params.message:sub(-#summary) == summary then
        M.notified[summary] = nil
        return vim.NIL
      end
    end
  end
  local default = vim.lsp.handlers["window/showMessage"]
  if default then
    return default(err, params, ctx, config)
  end
end

--- Running trainings (entries of M.active), optionally of one client.
function M.running(client_id)
  local out = {}
  for _, entry in pairs(M.active) do
    if client_id == nil or entry.client_id == client_id then
      out[#out + 1] = entry
    end
  end
  table.sort(out, function(a, b)
    return tostring(a.token) < tostring(b.token)
  end)
  return out
end

--- Cancel the running training(s): window/workDoneProgress/cancel with each token.
--- Returns the number of cancel notifications sent.
function M.cancel()
  local sent = 0
  for _, entry in ipairs(M.running()) do
    local client = vim.lsp.get_client_by_id(entry.client_id)
    if client then
      util.notify(client, "window/workDoneProgress/cancel", { token = entry.token })
      sent = sent + 1
      vim.notify(("Tailor: cancelling training%s"):format(entry.repo and (" of " .. entry.repo) or ""),
        vim.log.levels.INFO)
    else
      M.active[tostring(entry.client_id) .. ":" .. tostring(entry.token)] = nil
    end
  end
  if sent == 0 then
    vim.notify("Tailor: no training is running (or its progress was not reported to this editor)",
      vim.log.levels.WARN)
  end
  return sent
end

--- Forget the trainings of a client that stopped.
function M.forget_client(client_id)
  for key, entry in pairs(M.active) do
    if entry.client_id == client_id then
      M.active[key] = nil
    end
  end
end

return M
