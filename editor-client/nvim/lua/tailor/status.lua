-- Tailor's status ({model, backend, adapter, adapterState, jobs, ranking}), kept fresh by the
-- server's `tailor/status` notification, and its text forms (statusline, :TailorStatus).
local M = {}

M.current = nil -- last status object received (any client)
M.updated_at = nil

local function str(v)
  if v == nil or v == vim.NIL then
    return nil
  end
  if type(v) == "table" then
    return v.name or v.version or v.id or v.model or nil
  end
  return tostring(v)
end

local function count(v)
  if type(v) ~= "table" then
    return 0
  end
  local n = 0
  for _ in pairs(v) do
    n = n + 1
  end
  return n
end

local TERMINAL = { done = true, failed = true, cancelled = true }

--- Jobs still running (a job without a state counts as running; finished jobs stay in the
--- server's list with state done / failed / cancelled).
function M.active_jobs(status)
  local out = {}
  if type(status) ~= "table" or type(status.jobs) ~= "table" then
    return out
  end
  for _, job in ipairs(status.jobs) do
    local state = type(job) == "table" and str(job.state) or nil
    if not (state and TERMINAL[state]) then
      out[#out + 1] = job
    end
  end
  return out
end

--- The running training job, if any.
function M.training(status)
  for _, job in ipairs(M.active_jobs(status)) do
    if type(job) == "table" and job.kind == "train" then
      return job
    end
  end
  return nil
end

--- "training 42%" for a training job (just "training" before the first report).
function M.training_text(job)
  if type(job.fraction) == "number" then
    return ("training %d%%"):format(math.floor(job.fraction * 100 + 0.5))
  end
  return "training"
end

function M.update(status)
  if type(status) ~= "table" then
    return
  end
  M.current = status
  M.updated_at = (vim.uv or vim.loop).now()
  vim.schedule(function()
    pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "TailorStatus", modeline = false })
    pcall(vim.cmd, "redrawstatus")
  end)
end

--- Handler for the `tailor/status` notification.
function M.handler(_, result, _)
  M.update(result)
end

--- The state to show: the server's own `state` while the model is not ready (loading,
--- error), else the adapter's state when there is one, else "ready".
function M.state(status)
  local runtime = str(status.state)
  if runtime and runtime ~= "ready" then
    return runtime
  end
  local adapter_state = str(status.adapterState)
  if adapter_state and adapter_state ~= "none" then
    return adapter_state
  end
  return runtime
end

--- Short one-line form:
--- "Tailor: <model> · <adapter|base> · <state>[ · training NN%][ · N jobs]".
function M.short(status)
  status = status or M.current
  if type(status) ~= "table" then
    return nil
  end
  local parts = { str(status.model) or "?" }
  parts[#parts + 1] = str(status.adapter) or "base"
  local state = M.state(status)
  if state then
    parts[#parts + 1] = state
  end
  local jobs = #M.active_jobs(status)
  local training = M.training(status)
  if training then
    parts[#parts + 1] = M.training_text(training)
    jobs = jobs - 1
  end
  if jobs > 0 then
    parts[#parts + 1] = jobs == 1 and "1 job" or (jobs .. " jobs")
  end
  return "Tailor: " .. table.concat(parts, " · ")
end

--- One line for a job: "train-1  train  running 42%  budget 30s  /path/to/repo".
function M.job_text(job)
  if type(job) ~= "table" then
    return tostring(job)
  end
  local parts = { str(job.id) or "?", str(job.kind) or "job" }
  local state = str(job.state) or "running"
  if not TERMINAL[state] and type(job.fraction) == "number" then
    state = ("%s %d%%"):format(state, math.floor(job.fraction * 100 + 0.5))
  end
  parts[#parts + 1] = state
  if str(job.budget) then
    parts[#parts + 1] = "budget " .. str(job.budget)
  end
  if str(job.repo) then
    parts[#parts + 1] = str(job.repo)
  end
  return table.concat(parts, "  ")
end

--- Multi-line description for :TailorStatus.
function M.describe(status)
  status = status or M.current
  if type(status) ~= "table" then
    return "Tailor: no status yet"
  end
  local lines = { "Tailor status" }
  local keys = { "model", "backend", "adapter", "adapterState", "state", "error" }
  local shown = { jobs = true, ranking = true }
  for _, k in ipairs(keys) do
    shown[k] = true
    local v = status[k]
    if type(v) == "table" then
      v = vim.inspect(v, { newline = " ", indent = "" })
    elseif v == nil or v == vim.NIL then
      v = "-"
    end
    lines[#lines + 1] = string.format("  %-13s %s", k .. ":", tostring(v))
  end
  -- Anything else the server reports (load time, data directory, counters...).
  local extra = {}
  for k, v in pairs(status) do
    if not shown[k] and v ~= vim.NIL and type(v) ~= "table" then
      extra[#extra + 1] = k
    end
  end
  table.sort(extra)
  for _, k in ipairs(extra) do
    lines[#lines + 1] = string.format("  %-13s %s", k .. ":", tostring(status[k]))
  end
  local jobs = status.jobs
  if type(jobs) == "table" and count(jobs) > 0 then
    lines[#lines + 1] = "  jobs:"
    for _, job in ipairs(jobs) do
      lines[#lines + 1] = "    - " .. M.job_text(job)
      local message = type(job) == "table" and str(job.message) or nil
      if message and message ~= "" then
        lines[#lines + 1] = "        " .. message
      end
    end
  else
    lines[#lines + 1] = "  jobs:         none"
  end
  local ranking = status.ranking
  if type(ranking) == "table" and count(ranking) > 0 then
    lines[#lines + 1] = "  ranking:"
    for i, r in ipairs(ranking) do
      local name = type(r) == "table" and (r.model or r.name or vim.inspect(r, { newline = " ", indent = "" })) or tostring(r)
      local score = type(r) == "table" and (r.score or r.predicted) or nil
      lines[#lines + 1] = string.format("    %d. %s%s", i, name, score and ("  " .. tostring(score)) or "")
    end
  end
  return table.concat(lines, "\n")
end

return M
