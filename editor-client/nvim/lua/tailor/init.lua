-- Tailor for Neovim: starts `tailor serve` with Neovim's LSP client and shows its inline
-- completions as ghost text.
--
--   require("tailor").setup({ settings = { completion = { maxNewTokens = 32 } } })
--
-- See editor-client/README.md (Neovim) and :help tailor.
local config = require("tailor.config")
local util = require("tailor.util")
local status = require("tailor.status")
local commands = require("tailor.commands")
local ghost = require("tailor.ghost")
local train = require("tailor.train")

local M = {}

M.config = nil ---@type table|nil resolved options after setup()
M.mode = nil ---@type "builtin"|"ghost"|nil how inline completion is shown

local NAME = "tailor"

local function has_builtin()
  local ok, ic = pcall(function()
    return vim.lsp.inline_completion
  end)
  return ok and type(ic) == "table" and type(ic.enable) == "function" and type(ic.get) == "function"
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
  caps.workspace = caps.workspace or {}
  caps.workspace.didChangeConfiguration = caps.workspace.didChangeConfiguration or { dynamicRegistration = false }
  -- Training reports through server-initiated work done progress (Neovim's default, made
  -- explicit so that a changed default cannot silently drop the progress and its cancel).
  caps.window = caps.window or {}
  caps.window.workDoneProgress = true
  return caps
end

--- The LSP client configuration (shared by vim.lsp.config and vim.lsp.start).
function M.lsp_config(cfg)
  cfg = cfg or M.config
  local settings = config.to_lsp(cfg.settings)
  return {
    name = NAME,
    cmd = cfg.cmd,
    cmd_env = cfg.cmd_env,
    filetypes = cfg.filetypes,
    root_markers = cfg.root_markers,
    init_options = settings,
    settings = { tailor = settings },
    capabilities = capabilities(),
    handlers = {
      ["tailor/status"] = status.handler,
      ["window/showMessage"] = train.show_message_handler,
    },
  }
end

-- Keymaps -------------------------------------------------------------------------------

local actions = {
  accept = function()
    return ghost.accept()
  end,
  accept_word = function()
    return ghost.accept_part(nil, "word")
  end,
  accept_line = function()
    return ghost.accept_part(nil, "line")
  end,
  dismiss = function()
    return ghost.dismiss()
  end,
}

--- Used by the keymaps' <Cmd> (runs outside the expr mapping's text lock).
function M._key(action)
  actions[action]()
end

local function map_ghost(bufnr, keys)
  local descs = {
    accept = "Tailor: accept suggestion",
    accept_word = "Tailor: accept next word",
    accept_line = "Tailor: accept next line",
    dismiss = "Tailor: dismiss suggestion",
  }
  for action, desc in pairs(descs) do
    local lhs = keys[action]
    if lhs and lhs ~= "" then
      vim.keymap.set("i", lhs, function()
        if ghost.visible(bufnr) then
          return ("<Cmd>lua require('tailor')._key(%q)<CR>"):format(action)
        end
        return lhs
      end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = desc })
    end
  end
  if keys.trigger and keys.trigger ~= "" then
    vim.keymap.set("i", keys.trigger, function()
      M.trigger()
    end, { buffer = bufnr, desc = "Tailor: ask for a suggestion now" })
  end
end

local function map_builtin(bufnr, keys)
  local ic = vim.lsp.inline_completion
  if keys.accept and keys.accept ~= "" then
    local lhs = keys.accept
    vim.keymap.set("i", lhs, function()
      if not ic.get({ bufnr = bufnr }) then
        vim.api.nvim_feedkeys(vim.keycode(lhs), "n", false)
      end
    end, { buffer = bufnr, desc = "Tailor: accept suggestion" })
  end
  if keys.dismiss and keys.dismiss ~= "" and type(ic.dismiss) == "function" then
    vim.keymap.set("i", keys.dismiss, function()
      ic.dismiss({ bufnr = bufnr })
    end, { buffer = bufnr, desc = "Tailor: dismiss suggestion" })
  end
end

-- Attach --------------------------------------------------------------------------------

function M._on_attach(client, bufnr)
  local cfg = M.config
  if not cfg then
    return
  end
  if M.mode == "builtin" then
    if config.completion_enabled(cfg) then
      pcall(vim.lsp.inline_completion.enable, true, { bufnr = bufnr, client_id = client.id })
    end
    map_builtin(bufnr, cfg.keymaps or {})
  else
    ghost.attach(bufnr)
    map_ghost(bufnr, cfg.keymaps or {})
  end
end

local function start_fallback(cfg, bufnr)
  if vim.bo[bufnr].buftype ~= "" or not vim.tbl_contains(cfg.filetypes, vim.bo[bufnr].filetype) then
    return
  end
  local fname = vim.api.nvim_buf_get_name(bufnr)
  local root
  if vim.fs.root then
    root = vim.fs.root(bufnr, cfg.root_markers)
  else
    local found = vim.fs.find(cfg.root_markers, { upward = true, path = vim.fs.dirname(fname) })[1]
    root = found and vim.fs.dirname(found) or nil
  end
  local lc = M.lsp_config(cfg)
  lc.root_dir = root or (fname ~= "" and vim.fs.dirname(fname)) or vim.fn.getcwd()
  lc.filetypes, lc.root_markers = nil, nil
  vim.lsp.start(lc, { bufnr = bufnr })
end

--- Configure and start Tailor. opts: see lua/tailor/config.lua (defaults) and the README.
function M.setup(opts)
  if vim.fn.has("nvim-0.10") ~= 1 then
    vim.notify("Tailor needs Neovim 0.10 or newer (0.11 recommended)", vim.log.levels.ERROR)
    return
  end
  local cfg = config.resolve(opts)
  M.config = cfg

  pcall(vim.api.nvim_set_hl, 0, "TailorGhost", { link = "Comment", default = true })
  ghost.opts.debounce_ms = cfg.inline.debounce_ms
  ghost.opts.hl_group = cfg.inline.hl_group
  ghost.opts.enabled = config.completion_enabled(cfg)
  train.opts.echo = cfg.progress ~= false and not (type(cfg.progress) == "table" and cfg.progress.echo == false)

  local builtin = cfg.inline.builtin
  if builtin == true or (builtin == "auto" and has_builtin()) then
    if not has_builtin() then
      vim.notify("Tailor: this Neovim has no vim.lsp.inline_completion; using ghost text", vim.log.levels.WARN)
      M.mode = "ghost"
    else
      M.mode = "builtin"
    end
  else
    M.mode = "ghost"
  end

  commands.register()

  local group = vim.api.nvim_create_augroup("tailor", { clear = true })
  vim.api.nvim_create_autocmd("LspAttach", {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data and args.data.client_id or -1)
      if client and client.name == NAME then
        M._on_attach(client, args.buf)
      end
    end,
  })
  -- Training progress ($/progress from a server-initiated work done progress).
  vim.api.nvim_create_autocmd("LspProgress", {
    group = group,
    callback = function(args)
      local data = args.data or {}
      local client = vim.lsp.get_client_by_id(data.client_id or -1)
      if client and client.name == NAME then
        train.on_progress(data.client_id, data.params)
      end
    end,
  })

  if vim.lsp.config and vim.lsp.enable then
    local lc = M.lsp_config(cfg)
    lc.name = nil
    vim.lsp.config(NAME, lc)
    vim.lsp.enable(NAME)
  else
    vim.api.nvim_create_autocmd("FileType", {
      group = group,
      pattern = cfg.filetypes,
      callback = function(args)
        start_fallback(cfg, args.buf)
      end,
    })
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(b) then
        start_fallback(cfg, b)
      end
    end
  end
end

-- Public API ----------------------------------------------------------------------------

--- Accept the whole suggestion; true when one was accepted.
function M.accept()
  if M.mode == "builtin" then
    return vim.lsp.inline_completion.get() and true or false
  end
  return ghost.accept()
end

function M.accept_word()
  return ghost.accept_part(nil, "word")
end

function M.accept_line()
  return ghost.accept_part(nil, "line")
end

function M.dismiss()
  return ghost.dismiss()
end

--- Ask for a suggestion at the cursor now (no debounce).
function M.trigger()
  return ghost.request(nil, 1)
end

--- Is a suggestion shown at the cursor?
function M.visible()
  return ghost.visible()
end

--- Statusline component: "Tailor: <model> · <adapter> · <state>" ("" when not running).
function M.statusline()
  local s = status.short()
  if s then
    return s
  end
  if util.get_client(vim.api.nvim_get_current_buf()) then
    return "Tailor: starting"
  end
  return ""
end

--- Train the repository's adapter (`:TailorTrain [budget]`); budget nil: the
--- `training.budget` setting. cb(err, result) is optional.
function M.train(budget, cb)
  return commands.run("train", { args = budget or "", silent = cb ~= nil, callback = cb })
end

--- Write a commit message (`:TailorCommitMessage`): into the message area of a gitcommit
--- buffer, else into the unnamed register. cb(err, result) is optional.
function M.commit_message(cb)
  return commands.run("commit_message", { callback = cb })
end

--- Choose the base model (`:TailorSelect`): the server's ranking in a vim.ui.select menu.
--- opts: { refresh = true } ranks the candidates again (`:TailorSelect!`); { apply = id }
--- switches to that model without a menu. cb(err, result) is optional: with it nothing is
--- shown and the server's answer (tailor.selectModel) goes to cb.
function M.select_model(opts, cb)
  opts = opts or {}
  if opts.apply and cb == nil then
    return require("tailor.select").apply({ bufnr = vim.api.nvim_get_current_buf() }, opts.apply)
  end
  return commands.run("select_model", { apply = opts.apply, refresh = opts.refresh, silent = cb ~= nil, callback = cb })
end

--- Cancel the running training (`:TailorTrainCancel`); returns the number cancelled.
function M.train_cancel()
  return train.cancel()
end

--- Fetch the status now; cb(err, status) is optional.
function M.status(cb)
  return commands.run("status", { silent = cb ~= nil, callback = cb })
end

--- Change settings at run time (merged over the current ones) and tell the server.
function M.set_settings(settings)
  local cfg = M.config
  if not cfg then
    return
  end
  cfg.settings = vim.tbl_deep_extend("force", cfg.settings or {}, settings or {})
  ghost.opts.enabled = config.completion_enabled(cfg)
  local lsp_settings = config.to_lsp(cfg.settings)
  if vim.lsp.config and vim.lsp.enable then
    vim.lsp.config(NAME, { settings = { tailor = lsp_settings }, init_options = lsp_settings })
  end
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  for _, client in ipairs(get({ name = NAME })) do
    client.settings = { tailor = lsp_settings }
    util.notify(client, "workspace/didChangeConfiguration", { settings = { tailor = lsp_settings } })
  end
end

return M
