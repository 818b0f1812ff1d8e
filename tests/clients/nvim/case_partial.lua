-- Accept word / accept line take part of the suggestion and keep the rest shown;
-- dismiss hides it; partial acceptance is reported with acceptedChars.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.run(function()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  T.client()
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
  T.input("idef greet")
  T.wait_for(T.ghost, 5000, "ghost text")

  T.input("<M-Right>")
  T.expect("def greet(", T.line, "after accept word 1")
  T.expect('name):\n    return "Hello, " + name', T.ghost, "ghost after accept word 1")
  T.input("<M-Right>")
  T.expect("def greet(name", T.line, "after accept word 2")
  T.input("<M-C-Right>")
  T.expect("def greet(name):", T.line, "after accept line")
  T.expect('\n    return "Hello, " + name', T.ghost, "ghost is the next line")
  T.input("<M-Right>")
  T.expect({ "def greet(name):", "    " }, T.lines, "accept word takes the newline and indent")
  T.expect({ 2, 4 }, T.cursor, "cursor on the new line")
  T.expect('return "Hello, " + name', T.ghost, "rest of the line")

  -- Dismiss: <C-]> hides it, the rest is reported as a partial accept.
  T.input("<C-]>")
  T.expect(nil, T.ghost, "ghost after dismiss")
  T.eq({ "def greet(name):", "    " }, T.lines(), "dismiss leaves the buffer")
  local log
  T.wait_for(function()
    log = T.fake_log()
    return #log.accepted == 1
  end, 3000, "partial tailor.accepted")
  T.eq(#"(name):\n    ", log.accepted[1].acceptedChars, "acceptedChars")

  -- A new suggestion; accept line on the last line accepts all of it.
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  T.input("x = 1; print(")
  T.eq('"hello world")', T.wait_for(T.ghost, 5000, "ghost"), "ghost")
  T.input("<M-C-Right>")
  T.expect('x = 1; print("hello world")', T.line, "accept line = all")
  T.expect(nil, T.ghost, "no ghost left")
  T.wait_for(function()
    log = T.fake_log()
    return #log.accepted == 2 and log.accepted[2].acceptedChars == nil
  end, 3000, "full tailor.accepted")
end, 30)
