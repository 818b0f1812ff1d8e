-- Typing the suggestion's next characters shrinks it without a new request; a different
-- character dismisses it.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.run(function()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  T.client()
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
  T.input("itotal = compute")
  T.eq("_total(values, scale=2)", T.wait_for(T.ghost, 5000, "ghost text"), "ghost")
  local st = require("tailor.ghost")._state()
  local requests = st.requests

  -- one key at a time, each one after the previous was handled (like a person typing)
  for _, ch in ipairs({ "_", "t", "o" }) do
    T.input(ch, 80)
  end
  T.expect("tal(values, scale=2)", T.ghost, "ghost after typing through")
  T.eq(requests, st.requests, "no new request while typing through")
  T.eq({ row = 0, col = #"total = compute_to", count = 1 }, select(2, T.ghost()), "extmark follows the cursor")

  T.input("tal(values, scale=2", 200)
  T.expect(")", T.ghost, "one char left")

  -- Typing the last char completes it: counts as accepted, no ghost.
  T.input(")", 200)
  T.expect(nil, T.ghost, "ghost gone after typing it all")
  local log
  T.wait_for(function()
    log = T.fake_log()
    return #log.accepted == 1
  end, 3000, "tailor.accepted after typing through")

  -- A mismatching character dismisses it (and asks again).
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  T.input("total = compute")
  T.wait_for(T.ghost, 5000, "ghost text again")
  T.input("Z", 200)
  T.expect("total = computeZ", T.line, "line")
  T.expect(nil, T.ghost, "ghost after a mismatching char")
end, 30)
