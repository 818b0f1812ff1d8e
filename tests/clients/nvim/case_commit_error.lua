-- :TailorCommitMessage when the server answers with an error (e.g. not a git repository):
-- the error's message is shown with vim.notify (ERROR), the gitcommit buffer is untouched,
-- nothing is put into a register, and the plugin keeps working.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.capture_notes()
local find_note = T.find_note

local TEMPLATE = {
  "",
  "# Please enter the commit message for your changes. Lines starting",
  "# with '#' will be ignored, and an empty message aborts the commit.",
  "#",
}

T.run(function()
  local repo = vim.fs.dirname(vim.env.TAILOR_TEST_FILE)
  local editmsg = repo .. "/.git/COMMIT_EDITMSG"
  vim.fn.writefile(TEMPLATE, editmsg)
  vim.cmd.edit(editmsg)
  T.client()
  local buf = vim.api.nvim_get_current_buf()
  local tick = vim.api.nvim_buf_get_changedtick(buf)
  vim.fn.setreg('"', "untouched")

  T.exec("fake.commitMode", { mode = "error" })
  vim.cmd("TailorCommitMessage")
  local err = T.wait_for(function()
    return find_note("not a git repository")
  end, 3000, "the error notification")
  T.eq(vim.log.levels.ERROR, err.level, "error level")
  T.truthy(err.msg:find("^Tailor: "), err.msg)
  T.truthy(err.msg:find("not a git repository: " .. vim.api.nvim_buf_get_name(buf), 1, true), err.msg)
  T.sleep(100)
  T.eq(TEMPLATE, T.lines(), "buffer untouched")
  T.eq(tick, vim.api.nvim_buf_get_changedtick(buf), "no change at all")
  T.eq("untouched", vim.fn.getreg('"'), "register untouched")

  -- The Lua API hands the error to its callback.
  local got
  require("tailor").commit_message(function(e, result)
    got = { err = e, result = result }
  end)
  T.wait_for(function()
    return got
  end, 3000, "commit_message() callback")
  T.truthy(got.err and got.err.message:find("not a git repository", 1, true), vim.inspect(got))
  T.eq(nil, got.result, "no result")

  -- The server still answers afterwards.
  T.exec("fake.commitMode", { mode = "ok" })
  vim.cmd("TailorCommitMessage")
  T.expect("Update " .. vim.fs.basename(repo), function()
    return T.lines()[1]
  end, "filled after the error")
end, 30)
