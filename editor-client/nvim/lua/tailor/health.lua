-- :checkhealth tailor
local M = {}

local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local err = health.error or health.report_error
local info = health.info or health.report_info

function M.check()
  start("tailor: Neovim")
  local v = vim.version()
  local vs = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.11") == 1 then
    ok("Neovim " .. vs)
  elseif vim.fn.has("nvim-0.10") == 1 then
    warn("Neovim " .. vs .. " works (through vim.lsp.start), but 0.11 or newer is recommended",
      { "Upgrade Neovim: https://github.com/neovim/neovim/releases" })
  else
    err("Neovim " .. vs .. " is too old: Tailor needs 0.10 or newer",
      { "Upgrade Neovim: https://github.com/neovim/neovim/releases" })
  end

  local tailor = package.loaded["tailor"]
  local cfg = tailor and tailor.config
  if not cfg then
    err("setup() has not been called", { 'Add require("tailor").setup({}) to your init.lua' })
    cfg = require("tailor.config").resolve({})
  else
    ok("setup() called; file types: " .. table.concat(cfg.filetypes, ", "))
    if tailor.mode == "builtin" then
      ok("inline completion: Neovim's built-in vim.lsp.inline_completion")
    else
      ok("inline completion: Tailor's ghost text (accept: " .. tostring(cfg.keymaps.accept) .. ")")
    end
  end

  start("tailor: server executable")
  local exe = cfg.cmd[1]
  if vim.fn.executable(exe) == 1 then
    ok(("`%s` found: %s"):format(exe, vim.fn.exepath(exe)))
  else
    err(("`%s` is not executable or not on PATH"):format(exe), {
      "Install Tailor into its own environment, e.g. `pipx install <path-to-tailor-checkout>`"
        .. " or `python -m venv ~/.venvs/tailor && ~/.venvs/tailor/bin/pip install <checkout>`",
      'Or point the plugin at it: require("tailor").setup({ server_path = "/path/to/venv/bin/tailor" })',
      "Check the install with `tailor doctor`",
    })
  end

  start("tailor: server")
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local clients = get({ name = "tailor" })
  if #clients == 0 then
    warn("no Tailor server is running", {
      "Open a file of one of the configured file types (the server starts on demand)",
      "If it still does not start, read the LSP log: :lua vim.cmd.edit(vim.lsp.get_log_path())",
    })
  else
    for _, c in ipairs(clients) do
      local caps = c.server_capabilities or {}
      ok(("client %d running (root: %s)"):format(c.id, tostring(c.root_dir or c.config.root_dir)))
      if caps.inlineCompletionProvider then
        ok("server offers textDocument/inlineCompletion")
      else
        warn("server does not advertise inlineCompletionProvider", { "Update Tailor; check `tailor doctor`" })
      end
    end
    local status = require("tailor.status")
    if status.current then
      info(status.short())
    else
      info("no tailor/status received yet (the model may still be loading); run :TailorStatus")
    end
  end
end

return M
