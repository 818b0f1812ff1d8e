-- The table of Tailor's `workspace/executeCommand` commands.
--
-- Each entry: the server command name, an argument builder (one object, as in DESIGN.md's
-- contract; it may return nil and a message to refuse) or `arguments` (the whole argument
-- list, for a command that may take none), a result handler, and optionally a user command
-- (`bang = true`: it takes a !, seen as ctx.bang). Adding a command is one entry (see
-- `train` below). Client-only user commands (no server command behind them) are in
-- M.client_commands.
local util = require("tailor.util")
local status = require("tailor.status")
local train = require("tailor.train")
local commit = require("tailor.commit")
local model_select = require("tailor.select")

local M = {}

M.table = {
  status = {
    command = "tailor.status",
    user_command = "TailorStatus",
    desc = "Show Tailor's model, backend, adapter, jobs and ranking",
    args = function(_)
      return vim.empty_dict()
    end,
    on_result = function(result, ctx)
      status.update(result)
      if not ctx.silent then
        vim.notify(status.describe(result), vim.log.levels.INFO)
      end
    end,
  },
  train = {
    command = "tailor.trainAdapter",
    user_command = "TailorTrain",
    nargs = "?",
    desc = "Train this repository's adapter (optional budget: 90s, 10m, 1h, 200k-tokens)",
    args = function(ctx)
      local arg = {}
      local name = vim.api.nvim_buf_get_name(ctx.bufnr)
      if name ~= "" and vim.bo[ctx.bufnr].buftype == "" then
        arg.uri = vim.uri_from_bufnr(ctx.bufnr)
      end
      if ctx.args ~= "" then
        local budget, err = train.check_budget(ctx.args)
        if not budget then
          return nil, err
        end
        arg.budget = budget
      end
      return next(arg) and arg or vim.empty_dict()
    end,
    on_result = function(result, ctx)
      if ctx.silent then
        return
      end
      local job = type(result) == "table" and result.jobId or "?"
      vim.notify(("Tailor: training started (job %s, budget %s); :TailorTrainCancel stops it")
        :format(tostring(job), ctx.args ~= "" and vim.trim(ctx.args) or "from settings"), vim.log.levels.INFO)
    end,
  },
  -- In a gitcommit buffer the message fills the message area (one undo step; not when it
  -- was edited meanwhile); elsewhere it goes into the unnamed register. See commit.lua.
  commit_message = {
    command = "tailor.commitMessage",
    user_command = "TailorCommitMessage",
    desc = "Write a commit message from the staged diff (into a gitcommit buffer, else a register)",
    args = commit.args,
    on_result = commit.on_result,
  },
  -- The server's ranking of candidate base models in a vim.ui.select menu; a choice
  -- switches to it. ! (or ctx.refresh) recomputes the ranking. See select.lua.
  select_model = {
    command = model_select.COMMAND,
    user_command = "TailorSelect",
    bang = true,
    desc = "Choose the base model from Tailor's ranking (! ranks the candidate models again)",
    arguments = model_select.arguments,
    on_result = model_select.on_result,
  },
}

--- User commands without a server command: name -> { desc, nargs, fn(opts) }.
M.client_commands = {
  TailorTrainCancel = {
    desc = "Cancel the running adapter training (window/workDoneProgress/cancel)",
    fn = function()
      train.cancel()
    end,
  },
}

--- Run a command of the table.
--- opts: bufnr, args (string from the user command), fargs, bang, silent, callback(err, result);
--- apply / refresh for select_model.
--- Returns true when the request was sent.
function M.run(name, opts)
  opts = opts or {}
  local entry = M.table[name]
  if not entry then
    vim.notify("Tailor: unknown command " .. tostring(name), vim.log.levels.ERROR)
    return false
  end
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  local client = util.get_client(bufnr) or util.get_client(nil)
  if not client then
    local msg = "Tailor: the server is not running (open a file of a configured file type; see :checkhealth tailor)"
    if opts.callback then
      opts.callback({ message = msg }, nil)
    else
      vim.notify(msg, vim.log.levels.WARN)
    end
    return false
  end
  local ctx = {
    bufnr = bufnr,
    args = opts.args or "",
    fargs = opts.fargs or {},
    bang = opts.bang,
    apply = opts.apply,
    refresh = opts.refresh,
    silent = opts.silent,
    client_id = client.id,
  }
  local arguments, arg, refused = nil, nil, nil
  if entry.arguments then
    arguments, refused = entry.arguments(ctx)
  elseif entry.args then
    arg, refused = entry.args(ctx)
  end
  if refused then
    if opts.callback then
      opts.callback({ message = refused }, nil)
    else
      vim.notify("Tailor: " .. refused, vim.log.levels.ERROR)
    end
    return false
  end
  arguments = arguments or { arg or vim.empty_dict() }
  return M.execute_list(client, entry.command, arguments, function(err, result)
    if err then
      if opts.callback then
        return opts.callback(err, nil)
      end
      vim.notify(("Tailor: %s failed: %s"):format(entry.command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if entry.on_result then
      entry.on_result(result, ctx)
    end
    if opts.callback then
      opts.callback(nil, result)
    end
  end, bufnr)
end

--- workspace/executeCommand with one object argument. handler(err, result).
function M.execute(client, command, arg, handler, bufnr)
  return M.execute_list(client, command, { arg == nil and vim.empty_dict() or arg }, handler, bufnr)
end

--- workspace/executeCommand with an argument list (an empty one is sent as `[]`).
function M.execute_list(client, command, arguments, handler, bufnr)
  local params = { command = command, arguments = arguments }
  local ok = util.request(client, "workspace/executeCommand", params, function(err, result)
    if handler then
      handler(err, result ~= vim.NIL and result or nil)
    end
  end, bufnr)
  return ok
end

--- Create the user commands of the table.
function M.register()
  for name, entry in pairs(M.table) do
    if entry.user_command then
      vim.api.nvim_create_user_command(entry.user_command, function(c)
        M.run(name, { args = c.args, fargs = c.fargs, bang = c.bang })
      end, { nargs = entry.nargs or 0, bang = entry.bang, desc = entry.desc, force = true })
    end
  end
  for name, entry in pairs(M.client_commands) do
    vim.api.nvim_create_user_command(name, function(c)
      entry.fn(c)
    end, { nargs = entry.nargs or 0, desc = entry.desc, force = true })
  end
end

return M
