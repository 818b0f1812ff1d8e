-- :TailorCommitMessage against the real `tailor serve` and the real default model.
--
-- The repository (made by test_nvim.py) has a staged change to mathutil.py. In the
-- gitcommit buffer of .git/COMMIT_EDITMSG (git's template: an empty first line, then the
-- comment block) the command fills the message area: a subject of at most 72 characters,
-- a blank second line, no diff text, the comment block unchanged. Then, in a folder that is
-- not a git repository (TAILOR_TEST_PLAIN_DIR), the server's error is shown with vim.notify
-- (ERROR) and neither the buffer nor the unnamed register changes.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")
local timeout_s = tonumber(vim.env.TAILOR_TEST_TIMEOUT or "240")

T.capture_notes()
local find_note = T.find_note

local COMMENTS = {
  "# Please enter the commit message for your changes. Lines starting",
  "# with '#' will be ignored, and an empty message aborts the commit.",
  "#",
  "# On branch main",
  "# Changes to be committed:",
  "#\tmodified:   mathutil.py",
  "#",
}
local TEMPLATE = vim.list_extend({ "" }, COMMENTS)

T.run(function()
  local repo = vim.fs.dirname(vim.env.TAILOR_TEST_FILE)
  local editmsg = repo .. "/.git/COMMIT_EDITMSG"
  vim.fn.writefile(TEMPLATE, editmsg)

  local t0 = vim.uv.now()
  vim.cmd.edit(editmsg)
  T.eq("gitcommit", vim.bo.filetype, "filetype of COMMIT_EDITMSG")
  local buf = vim.api.nvim_get_current_buf()
  T.client(60000)
  T.log(("client initialized after %d ms"):format(vim.uv.now() - t0))
  T.eq(TEMPLATE, T.lines(), "the template")

  -- The staged case: the first model use waits for the model to load.
  local t1 = vim.uv.now()
  vim.cmd("TailorCommitMessage")
  T.wait_for(function()
    local first = vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1]
    if first ~= "" then
      return true
    end
    local failed = find_note("failed", vim.log.levels.ERROR) or find_note("no commit message", vim.log.levels.ERROR)
    if failed then
      error("the command failed: " .. failed.msg)
    end
  end, 120000, "a commit message in the buffer")
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  T.log(("message after %d ms:\n%s"):format(vim.uv.now() - t1, table.concat(lines, "\n")))

  local area, has_comments = require("tailor.commit").area_end(lines)
  T.truthy(has_comments, "a comment block follows the message")
  T.truthy(lines[1]:match("%S"), "a non-blank subject")
  T.truthy(#lines[1] <= 72, ("subject of at most 72 characters (%d): %q"):format(#lines[1], lines[1]))
  if #lines >= 2 then
    T.eq("", lines[2], "the second line is empty")
  end
  T.eq(COMMENTS, vim.list_slice(lines, area + 1), "the comment block is unchanged")
  for i = 1, area do
    local line = lines[i]
    T.truthy(not vim.startswith(line, "diff --git"), ("line %d is diff text: %q"):format(i, line))
    T.truthy(not vim.startswith(line, "+"), ("line %d is an added diff line: %q"):format(i, line))
    T.truthy(not vim.startswith(line, "@@"), ("line %d is a hunk header: %q"):format(i, line))
  end
  T.eq(nil, find_note("nothing is staged"), "no 'nothing is staged' notice for a staged change")
  T.eq({ 1, 0 }, T.cursor(), "cursor on the subject line")
  -- One undo step restores the template.
  vim.cmd("silent normal! u")
  T.eq(TEMPLATE, T.lines(), "one u restores the template")

  -- A folder that is not a git repository: an error through vim.notify, nothing changed.
  local plain = T.truthy(vim.env.TAILOR_TEST_PLAIN_DIR, "TAILOR_TEST_PLAIN_DIR")
  vim.cmd.enew()
  local scratch = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(scratch, 0, -1, false, { "scratch text" })
  vim.cmd.cd(plain)
  local tick = vim.api.nvim_buf_get_changedtick(scratch)
  local commit_tick = vim.api.nvim_buf_get_changedtick(buf)
  vim.fn.setreg('"', "untouched")
  T.notes = {}
  vim.cmd("TailorCommitMessage")
  local err = T.wait_for(function()
    return find_note("tailor.commitMessage failed", vim.log.levels.ERROR)
  end, 60000, "the error notification")
  T.log("error shown: " .. err.msg)
  T.truthy(err.msg:find("^Tailor: "), err.msg)
  T.truthy(err.msg:find("not inside a git repository", 1, true), err.msg)
  T.truthy(err.msg:find(plain, 1, true), err.msg)
  T.sleep(200)
  T.eq({ "scratch text" }, vim.api.nvim_buf_get_lines(scratch, 0, -1, false), "scratch buffer untouched")
  T.eq(tick, vim.api.nvim_buf_get_changedtick(scratch), "no change in the scratch buffer")
  T.eq(commit_tick, vim.api.nvim_buf_get_changedtick(buf), "no change in the commit buffer")
  T.eq(TEMPLATE, vim.api.nvim_buf_get_lines(buf, 0, -1, false), "commit buffer untouched")
  T.eq("untouched", vim.fn.getreg('"'), "register untouched")
  T.eq(nil, find_note("commit message in register"), "nothing put into a register")

  -- A file in that folder (no Tailor file type; the running client answers): same error.
  local notes_file = plain .. "/notes.txt"
  vim.fn.writefile({ "plain notes" }, notes_file)
  vim.cmd.edit(notes_file)
  local nbuf = vim.api.nvim_get_current_buf()
  T.notes = {}
  vim.cmd("TailorCommitMessage")
  err = T.wait_for(function()
    return find_note("tailor.commitMessage failed", vim.log.levels.ERROR)
  end, 60000, "the error notification for a file")
  T.truthy(err.msg:find("not inside a git repository", 1, true), err.msg)
  T.sleep(200)
  T.eq({ "plain notes" }, vim.api.nvim_buf_get_lines(nbuf, 0, -1, false), "file buffer untouched")
  T.eq(false, vim.bo[nbuf].modified, "file buffer not modified")
  T.eq("untouched", vim.fn.getreg('"'), "register still untouched")
end, timeout_s)
