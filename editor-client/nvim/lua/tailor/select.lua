-- Choosing the base model from the server's ranking (`tailor.selectModel`, run by
-- :TailorSelect through commands.lua). The server ranks candidate models in the background;
-- this module shows its ranking with vim.ui.select (available candidates only, best first),
-- switches to the chosen one ({apply = id}) and starts a ranking ({refresh = true}) when
-- there is none yet or on :TailorSelect!.
local M = {}

M.COMMAND = "tailor.selectModel"

local function str(v)
  if v == nil or v == vim.NIL then
    return nil
  end
  return tostring(v)
end

local function num(v)
  return type(v) == "number" and v or nil
end

--- The argument list for the server command: {{apply = id}} (ctx.apply), {{refresh = true}}
--- (ctx.refresh, or the ! of :TailorSelect!), else {} (sent as `[]`: just the ranking).
function M.arguments(ctx)
  if ctx.apply then
    return { { apply = ctx.apply } }
  end
  if ctx.refresh or ctx.bang then
    ctx.refresh = true
    return { { refresh = true } }
  end
  return {}
end

--- The candidates of a result (a list of tables with a model id), best first as sent.
function M.candidates(result)
  local out = {}
  if type(result) ~= "table" or type(result.candidates) ~= "table" then
    return out
  end
  for _, c in ipairs(result.candidates) do
    if type(c) == "table" and type(c.model) == "string" then
      out[#out + 1] = c
    end
  end
  return out
end

--- The candidates that can be chosen (`available`).
function M.available(result)
  return vim.tbl_filter(function(c)
    return c.available == true
  end, M.candidates(result))
end

--- Parameters in millions: "135M", "1544M", "3.5M"; nil when unknown.
function M.params_text(parameters)
  local n = num(parameters)
  if not n then
    return nil
  end
  local m = n / 1e6
  if m < 10 then
    return (("%.1f"):format(m):gsub("%.0$", "")) .. "M"
  end
  return ("%dM"):format(math.floor(m + 0.5))
end

--- One line of the menu:
--- "smollm2-360m-instruct  llama · 362M · predicted 0.412 · measured 0.398 · 310 ms  [pick]".
--- Markers: [current] (the model in use), [pick] (the server's recommendation), [over budget]
--- (slower than selector.latencyBudgetMs).
function M.format_item(c, result)
  local parts = { str(c.kind) or "?" }
  parts[#parts + 1] = M.params_text(c.parameters)
  if num(c.predicted_score) then
    parts[#parts + 1] = ("predicted %.3f"):format(c.predicted_score)
  end
  if num(c.measured_score) then
    parts[#parts + 1] = ("measured %.3f"):format(c.measured_score)
  end
  if num(c.latency_ms) then
    parts[#parts + 1] = ("%d ms"):format(math.floor(c.latency_ms + 0.5))
  end
  local line = c.model .. "  " .. table.concat(parts, " · ")
  local marks = {}
  if type(result) == "table" and c.model == str(result.current) then
    marks[#marks + 1] = "[current]"
  end
  if type(result) == "table" and c.model == str(result.pick) then
    marks[#marks + 1] = "[pick]"
  end
  if c.within_latency_budget == false then
    marks[#marks + 1] = "[over budget]"
  end
  if #marks > 0 then
    line = line .. "  " .. table.concat(marks, " ")
  end
  return line
end

--- The menu's prompt: the model in use, and the candidates left out (not available).
function M.prompt(result)
  local text = "Tailor: base model"
  local current = type(result) == "table" and str(result.current) or nil
  if current then
    text = text .. " (now " .. current .. ")"
  end
  local missing = {}
  for _, c in ipairs(M.candidates(result)) do
    if c.available ~= true then
      missing[#missing + 1] = c.model
    end
  end
  if #missing > 0 then
    text = text .. "; not available: " .. table.concat(missing, ", ")
  end
  return text
end

--- "Tailor: ranking models 42% · <message>" for the "running" state.
function M.progress_text(result)
  local text = "Tailor: ranking models"
  local fraction = num(result.fraction)
  if fraction then
    text = text .. (" %d%%"):format(math.floor(fraction * 100 + 0.5))
  end
  local message = str(result.message)
  if message and message ~= "" then
    text = text .. " · " .. message
  end
  return text
end

local function message_of(result, default)
  local message = str(result.message)
  if message and message ~= "" then
    return message
  end
  return default
end

local function err_text(err)
  return type(err) == "table" and (err.message or vim.inspect(err)) or tostring(err)
end

--- Another tailor.selectModel request from inside the flow (through commands.lua, which
--- finds the client); cb(err, result). opts: apply / refresh.
local function request(ctx, opts, cb)
  local bufnr = ctx.bufnr
  if not (bufnr and vim.api.nvim_buf_is_valid(bufnr)) then
    bufnr = vim.api.nvim_get_current_buf()
  end
  return require("tailor.commands").run("select_model", {
    bufnr = bufnr,
    apply = opts.apply,
    refresh = opts.refresh,
    silent = true,
    callback = cb,
  })
end

--- Switch the server's base model to `model`; errors are notified (ERROR), never thrown.
--- Returns true when the request was sent.
function M.apply(ctx, model)
  vim.notify("Tailor: switching to " .. model, vim.log.levels.INFO)
  return request(ctx, { apply = model }, function(err, _)
    if err then
      vim.notify(("Tailor: could not switch to %s: %s"):format(model, err_text(err)), vim.log.levels.ERROR)
    end
  end)
end

--- Start a ranking in the background; its state is notified.
function M.refresh(ctx)
  request(ctx, { refresh = true }, function(err, result)
    if err then
      vim.notify("Tailor: could not start a model ranking: " .. err_text(err), vim.log.levels.ERROR)
    elseif type(result) == "table" then
      M.notify_state(result)
    end
  end)
end

--- The user's choice from the menu (nil: cancelled).
function M.on_choice(choice, result, ctx)
  if type(choice) ~= "table" or type(choice.model) ~= "string" then
    return "cancelled"
  end
  if choice.model == str(result.current) then
    vim.notify(("Tailor: %s is already the current model"):format(choice.model), vim.log.levels.INFO)
    return "current"
  end
  M.apply(ctx, choice.model)
  return "apply"
end

--- Show the ranking with vim.ui.select (available candidates only).
function M.pick(result, ctx)
  local items = M.available(result)
  if #items == 0 then
    local reasons = {}
    for _, c in ipairs(M.candidates(result)) do
      reasons[#reasons + 1] = c.model .. (str(c.skipped) and (": " .. str(c.skipped)) or "")
    end
    vim.notify("Tailor: no candidate model is available (" .. table.concat(reasons, "; ") .. ")",
      vim.log.levels.WARN)
    return false
  end
  vim.ui.select(items, {
    prompt = M.prompt(result),
    kind = "tailor.model",
    format_item = function(c)
      return M.format_item(c, result)
    end,
  }, function(choice)
    M.on_choice(choice, result, ctx)
  end)
  return true
end

--- Notify what the state says (running, error, disabled); returns true when it did.
function M.notify_state(result)
  local state = str(result.state)
  if state == "running" then
    vim.notify(M.progress_text(result), vim.log.levels.INFO)
  elseif state == "disabled" then
    vim.notify("Tailor: " .. message_of(result, "model selection is disabled (selector.enable is false)"),
      vim.log.levels.WARN)
  elseif state == "error" then
    vim.notify("Tailor: model ranking failed: " .. message_of(result, "no reason given"), vim.log.levels.ERROR)
  else
    return false
  end
  return true
end

--- Result handler for commands.lua. Returns what was done: "applied", "refresh", "menu",
--- "state" or "none".
function M.on_result(result, ctx)
  if ctx.silent then
    return "none"
  end
  if type(result) ~= "table" then
    vim.notify("Tailor: the server returned no model ranking", vim.log.levels.ERROR)
    return "none"
  end
  if str(result.applied) then
    -- An apply from the Lua API (select_model({apply = id})); the menu's own applies are
    -- silent and notified by M.apply.
    vim.notify("Tailor: switching to " .. str(result.applied), vim.log.levels.INFO)
    return "applied"
  end
  local state = str(result.state)
  if state == "none" then
    if ctx.refresh then
      vim.notify("Tailor: " .. message_of(result, "no model ranking yet"), vim.log.levels.INFO)
      return "state"
    end
    vim.notify("Tailor: there is no model ranking yet; starting one (run :TailorSelect again when it is done)",
      vim.log.levels.INFO)
    M.refresh(ctx)
    return "refresh"
  end
  local notified = M.notify_state(result)
  -- After :TailorSelect! the old ranking is being replaced: the state is enough.
  if ctx.refresh and state == "running" then
    return "state"
  end
  if #M.candidates(result) > 0 then
    M.pick(result, ctx)
    return "menu"
  end
  if not notified then
    vim.notify("Tailor: the model ranking has no candidates" .. (str(result.message) and str(result.message) ~= ""
      and (" (" .. str(result.message) .. ")") or ""), vim.log.levels.WARN)
  end
  return "state"
end

return M
