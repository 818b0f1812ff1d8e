-- Minimal init for the headless Neovim tests: the plugin from this checkout, set up from
-- environment variables that tests/clients/test_nvim.py sets.
--   TAILOR_NVIM_PLUGIN  editor-client/nvim
--   TAILOR_TEST_CMD     JSON list: the server command
--   TAILOR_TEST_SETUP   JSON object merged into the setup() options (optional)
vim.opt.runtimepath:prepend(vim.env.TAILOR_NVIM_PLUGIN)
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
vim.opt.more = false
vim.opt.showmode = false
vim.opt.expandtab = false

local opts = {
  cmd = vim.json.decode(vim.env.TAILOR_TEST_CMD),
  inline = { debounce_ms = 30 },
}
if vim.env.TAILOR_TEST_SETUP and vim.env.TAILOR_TEST_SETUP ~= "" then
  opts = vim.tbl_deep_extend("force", opts, vim.json.decode(vim.env.TAILOR_TEST_SETUP, { luanil = { object = true } }))
end
if vim.env.TAILOR_TEST_NO_LSP_CONFIG == "1" then
  -- Exercise the vim.lsp.start path used on Neovim versions without vim.lsp.config.
  vim.lsp.config = nil
  vim.lsp.enable = nil
end
if vim.env.TAILOR_TEST_STUB_BUILTIN == "1" then
  -- Stand-in for Neovim 0.12's vim.lsp.inline_completion, recording how the plugin uses it.
  _G.builtin_calls = { enable = {}, get = 0 }
  _G.builtin_get_result = false
  vim.lsp.inline_completion = {
    enable = function(enable, filter)
      table.insert(_G.builtin_calls.enable, { enable = enable, filter = filter })
    end,
    get = function()
      _G.builtin_calls.get = _G.builtin_calls.get + 1
      return _G.builtin_get_result
    end,
  }
end
if vim.env.TAILOR_TEST_NO_SETUP ~= "1" then
  require("tailor").setup(opts)
end
