-- Where Neovim has vim.lsp.inline_completion (0.12), the plugin enables it for the buffer
-- and maps Tab to its get(), with a plain Tab when nothing was accepted.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.run(function()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  local client = T.client()
  T.eq("builtin", require("tailor").mode, "mode")
  T.wait_for(function()
    return #_G.builtin_calls.enable == 1
  end, 3000, "inline_completion.enable")
  local call = _G.builtin_calls.enable[1]
  T.eq(true, call.enable, "enable(true, ...)")
  T.eq(vim.api.nvim_get_current_buf(), call.filter.bufnr, "enabled for the buffer")
  T.eq(client.id, call.filter.client_id, "enabled for the client")

  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
  T.input("idef greet", 300)
  T.eq(nil, require("tailor.ghost")._state(), "the plugin's own ghost text is not used")
  T.input("<Tab>", 100)
  T.expect(1, function() return _G.builtin_calls.get end, "Tab asked the built-in to accept")
  T.expect("def greet   ", T.line, "nothing accepted: a plain Tab")
  _G.builtin_get_result = true
  T.input("<Tab>", 100)
  T.expect(2, function() return _G.builtin_calls.get end, "second Tab")
  T.eq("def greet   ", vim.api.nvim_get_current_line(), "accepted: no Tab inserted")
end, 30)
