-- Headline end-to-end test with the real `tailor serve` and the real default model:
-- type in insert mode, the server's suggestion shows as ghost text, Tab accepts it.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")
local timeout_s = tonumber(vim.env.TAILOR_TEST_TIMEOUT or "240")

T.run(function()
  local t0 = vim.uv.now()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  local client = T.client(60000)
  T.truthy(client.server_capabilities.inlineCompletionProvider, "server advertises inlineCompletionProvider")
  T.log(("client initialized after %d ms"):format(vim.uv.now() - t0))

  -- Go to the end of the committed file and type the start of a line.
  vim.cmd("normal! G")
  T.input("o", 100)
  T.input("    return fibonacci(n - 1) + fibonacci(", 100)
  local prefix_line = vim.api.nvim_get_current_line()
  local row = vim.api.nvim_win_get_cursor(0)[1]

  -- The first suggestion waits for the model to load; ask again now and then.
  local ghost
  local t_type = vim.uv.now()
  local deadline = t_type + (timeout_s - 30) * 1000
  while not ghost do
    local ok = pcall(T.wait_for, T.ghost, 15000, "ghost text")
    if ok then
      ghost = T.ghost()
    elseif vim.uv.now() > deadline then
      error("no suggestion from the real server within the deadline")
    else
      T.log("no ghost text yet; asking again")
      require("tailor").trigger()
    end
  end
  T.log(("first ghost text after %d ms: %q"):format(vim.uv.now() - t_type, ghost))
  T.truthy(#ghost > 0, "non-empty ghost text")
  T.eq(ghost, require("tailor.ghost").text(), "extmark text == suggestion")

  T.input("<Tab>", 200)
  local expected = vim.split(prefix_line .. ghost, "\n", { plain = true })
  local got = vim.api.nvim_buf_get_lines(0, row - 1, row - 1 + #expected, false)
  T.eq(expected, got, "buffer holds the accepted suggestion")

  -- The command of the item (tailor.accepted) and tailor.status both answer.
  local err, status = T.exec("tailor.status", vim.empty_dict(), 30000)
  T.eq(nil, err, "tailor.status error")
  T.truthy(type(status) == "table" and status.model, "tailor.status has a model")
  T.log("status: " .. vim.inspect(status, { newline = " ", indent = "" }))
  T.truthy(require("tailor").statusline():find("^Tailor: "), "statusline")

  -- A second suggestion (model warm) is quick.
  T.input("<Esc>o", 100)
  local t1 = vim.uv.now()
  T.input("    print(", 50)
  local ok2 = pcall(T.wait_for, T.ghost, 20000, "second ghost text")
  T.log(("second suggestion: %s after %d ms"):format(ok2 and ("%q"):format(T.ghost()) or "none", vim.uv.now() - t1))
  T.input("<Esc>")
end, timeout_s)
