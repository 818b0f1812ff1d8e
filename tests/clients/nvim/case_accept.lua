-- Ghost text shows the server's suggestion; Tab accepts it and runs tailor.accepted.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.run(function()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  T.client()
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
  T.input("idef greet")
  local ghost = T.wait_for(T.ghost, 5000, "ghost text")
  T.eq('(name):\n    return "Hello, " + name', ghost, "ghost text")
  local _, pos = T.ghost()
  T.eq({ row = 0, col = 9, count = 1 }, pos, "extmark position")
  T.eq('(name):\n    return "Hello, " + name', require("tailor.ghost").text(), "ghost.text()")
  T.truthy(require("tailor").visible(), "visible()")

  T.input("<Tab>")
  T.expect({ "def greet(name):", '    return "Hello, " + name' }, T.lines, "buffer after Tab")
  T.expect({ 2, #'    return "Hello, " + name' }, T.cursor, "cursor after Tab")
  T.eq("i", vim.api.nvim_get_mode().mode, "still in insert mode")

  local log = T.fake_log()
  T.wait_for(function()
    log = T.fake_log()
    return #log.accepted == 1
  end, 3000, "tailor.accepted")
  T.truthy(log.accepted[1].id:match("^fake%-"), "accepted id")
  T.eq(nil, log.accepted[1].acceptedChars, "full accept has no acceptedChars")

  -- Tab without a suggestion is a plain Tab.
  T.input("<Esc>o", 100)
  T.input("x<Tab>", 100)
  -- (the python ftplugin sets expandtab/softtabstop=4, so a Tab here is spaces)
  T.expect("x   ", T.line, "Tab falls back")
  T.input("<Esc>", 50)
  T.expect(nil, T.ghost, "no ghost after leaving insert mode")
end, 30)
