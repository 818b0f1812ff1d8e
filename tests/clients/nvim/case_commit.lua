-- :TailorCommitMessage sends tailor.commitMessage {uri}; in a gitcommit buffer the message
-- replaces the message area (the comment block stays, one `u` restores the template); the
-- server's notice is notified; a message area edited while waiting is left alone; outside a
-- gitcommit buffer the message goes into the unnamed register.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

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

local function with_comments(lines)
  return vim.list_extend(vim.deepcopy(lines), COMMENTS)
end

T.run(function()
  local repo = vim.fs.dirname(vim.env.TAILOR_TEST_FILE)
  local name = vim.fs.basename(repo)
  local editmsg = repo .. "/.git/COMMIT_EDITMSG"
  vim.fn.writefile(TEMPLATE, editmsg)

  vim.cmd.edit(editmsg)
  T.eq("gitcommit", vim.bo.filetype, "filetype of COMMIT_EDITMSG")
  T.client()
  local buf = vim.api.nvim_get_current_buf()
  T.eq(TEMPLATE, T.lines(), "the template")
  local message = { "Update " .. name, "", "Describe the staged changes of " .. name .. "." }

  -- Fill: the message, a blank line, the comment block unchanged; the URI of the buffer.
  vim.cmd("TailorCommitMessage")
  T.expect(with_comments(vim.list_extend(vim.deepcopy(message), { "" })), T.lines, "buffer after :TailorCommitMessage")
  local log = T.fake_log()
  T.eq({ uri = vim.uri_from_bufnr(buf) }, log.commit[1], "tailor.commitMessage argument")
  T.eq({ 1, 0 }, T.cursor(), "cursor on the subject line")
  T.eq(nil, find_note("nothing is staged"), "no notice in the staged case")
  -- One undo step restores the template.
  vim.cmd("normal! u")
  T.eq(TEMPLATE, T.lines(), "one u restores the template")
  vim.cmd("normal! \18") -- <C-r>
  T.eq(message[1], T.lines()[1], "redo fills it again")
  vim.cmd("normal! u")

  -- The unstaged case: filled, and the server's notice shown as information.
  T.exec("fake.commitMode", { mode = "notice" })
  vim.cmd("TailorCommitMessage")
  T.expect("Describe the unstaged changes of " .. name .. ".", function()
    return T.lines()[3]
  end, "unstaged message")
  local notice = T.wait_for(function()
    return find_note("nothing is staged")
  end, 3000, "the notice")
  T.eq("Tailor: nothing is staged: described the unstaged changes", notice.msg, "notice text")
  T.eq(vim.log.levels.INFO, notice.level, "notice level")
  vim.cmd("normal! u")
  T.eq(TEMPLATE, T.lines(), "template again")

  -- Typed into the message area while the server works: left alone, and said so.
  T.exec("fake.commitMode", { mode = "ok", delayMs = 400 })
  vim.cmd("TailorCommitMessage")
  vim.api.nvim_buf_set_lines(buf, 0, 1, false, { "my own subject" })
  local kept = T.wait_for(function()
    return find_note("edited while")
  end, 3000, "the 'edited meanwhile' notification")
  T.eq(vim.log.levels.WARN, kept.level, "kept level")
  T.sleep(100)
  T.eq(with_comments({ "my own subject" }), T.lines(), "a typed message is kept")

  -- Changed while waiting, but the message area is still empty: filled.
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, TEMPLATE)
  vim.cmd("TailorCommitMessage")
  vim.api.nvim_buf_set_lines(buf, -2, -1, false, { "# (an edit in the comment block)" })
  T.expect(message[1], function()
    return T.lines()[1]
  end, "filled although the buffer changed")
  T.eq("# (an edit in the comment block)", T.lines()[#T.lines()], "the edited comment block is kept")
  -- Its own undo step: one `u` takes the message away and keeps the earlier edit.
  vim.cmd("normal! u")
  local edited = vim.deepcopy(TEMPLATE)
  edited[#edited] = "# (an edit in the comment block)"
  T.eq(edited, T.lines(), "u undoes the fill only")

  -- Outside a gitcommit buffer: the unnamed register, with a notification.
  T.exec("fake.commitMode", { mode = "ok" })
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  T.client()
  local before = T.lines()
  T.notes = {}
  vim.cmd("TailorCommitMessage")
  local copied = T.wait_for(function()
    return find_note("commit message in register")
  end, 3000, "the register notification")
  T.truthy(copied.msg:find("Update " .. name, 1, true), copied.msg)
  T.eq(table.concat(message, "\n") .. "\n", vim.fn.getreg('"'), "unnamed register")
  T.eq("V", vim.fn.getregtype('"'), "linewise register")
  T.eq(before, T.lines(), "the file buffer is untouched")
  log = T.fake_log()
  T.eq({ uri = vim.uri_from_bufnr(0) }, log.commit[#log.commit], "argument outside gitcommit")

  -- The Lua API, with a callback.
  local got
  require("tailor").commit_message(function(err, result)
    got = { err = err, result = result }
  end)
  T.wait_for(function()
    return got
  end, 3000, "commit_message() callback")
  T.eq(nil, got.err, "no error")
  T.eq("Update " .. name, got.result.subject, "subject")
  T.eq("staged", got.result.diff, "diff")
end, 30)
