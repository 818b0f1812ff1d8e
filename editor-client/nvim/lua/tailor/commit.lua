-- Commit messages from the server (`tailor.commitMessage`, run by :TailorCommitMessage
-- through commands.lua). In a `gitcommit` buffer (.git/COMMIT_EDITMSG) the message replaces
-- the message area, the lines before git's comment block, as one undo step; anywhere else
-- it goes into the unnamed register (and `+` where a clipboard exists).
local M = {}

--- Is the buffer a git commit message buffer?
function M.is_gitcommit(bufnr)
  return vim.bo[bufnr].filetype == "gitcommit"
end

--- The URI to describe: the buffer's file (a gitcommit buffer's .git/COMMIT_EDITMSG, or any
--- file in the repository), else the current directory.
function M.uri(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name ~= "" and vim.bo[bufnr].buftype == "" then
    return vim.uri_from_bufnr(bufnr)
  end
  return vim.uri_from_fname(vim.fn.getcwd())
end

--- Number of lines in the message area: the lines before the first line starting with "#"
--- (git's comment block, which also holds the scissors line of `git commit -v`); all lines
--- when there is no comment block. Second value: whether a comment block follows.
function M.area_end(lines)
  for i, line in ipairs(lines) do
    if line:sub(1, 1) == "#" then
      return i - 1, true
    end
  end
  return #lines, false
end

--- Is the message area of the buffer empty (only blank lines)?
function M.area_empty(bufnr)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local n = M.area_end(lines)
  for i = 1, n do
    if lines[i]:match("%S") then
      return false
    end
  end
  return true
end

--- The message as buffer lines (no trailing blank lines; CRLF tolerated).
function M.message_lines(message)
  local text = tostring(message or ""):gsub("\r\n", "\n"):gsub("%s+$", "")
  return vim.split(text, "\n", { plain = true })
end

--- Replace the message area with the message, keeping the comment block (one blank line
--- before it, as git writes the template). One nvim_buf_set_lines: one undo step.
--- Returns true, or false and a reason.
function M.fill(bufnr, message)
  if not vim.bo[bufnr].modifiable then
    return false, "the buffer is not modifiable"
  end
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local n, has_comments = M.area_end(lines)
  local new = M.message_lines(message)
  if has_comments then
    new[#new + 1] = ""
  end
  local ok, err = pcall(vim.api.nvim_buf_set_lines, bufnr, 0, n, false, new)
  if not ok then
    return false, tostring(err)
  end
  -- The cursor on the subject line, as when one starts typing a message.
  for _, win in ipairs(vim.fn.win_findbuf(bufnr)) do
    pcall(vim.api.nvim_win_set_cursor, win, { 1, 0 })
  end
  return true
end

--- Put the message into the unnamed register (and `+` where a clipboard provider exists).
--- Returns the registers written.
function M.to_register(message)
  local text = table.concat(M.message_lines(message), "\n")
  vim.fn.setreg('"', text, "l")
  local regs = { '"' }
  if vim.fn.has("clipboard") == 1 then
    if pcall(vim.fn.setreg, "+", text, "l") then
      regs[#regs + 1] = "+"
    end
  end
  return regs
end

--- Argument builder for commands.lua: {uri}; remembers in ctx whether the buffer is a
--- gitcommit buffer and its changedtick, for on_result.
function M.args(ctx)
  local bufnr = ctx.bufnr
  ctx.gitcommit = M.is_gitcommit(bufnr)
  ctx.tick = vim.api.nvim_buf_get_changedtick(bufnr)
  return { uri = M.uri(bufnr) }
end

--- Result handler for commands.lua: fill the gitcommit buffer or the register; show the
--- server's notice. Returns what was done: "filled", "register", "kept" or "none".
function M.on_result(result, ctx)
  local message = type(result) == "table" and result.message or nil
  if type(message) ~= "string" or not message:match("%S") then
    vim.notify("Tailor: the server returned no commit message", vim.log.levels.ERROR)
    return "none"
  end
  local notice = type(result.notice) == "string" and result.notice ~= "" and result.notice or nil
  if notice then
    vim.notify("Tailor: " .. notice, vim.log.levels.INFO)
  end
  local bufnr = ctx.bufnr
  if ctx.gitcommit and vim.api.nvim_buf_is_valid(bufnr) then
    if vim.api.nvim_buf_get_changedtick(bufnr) ~= ctx.tick and not M.area_empty(bufnr) then
      vim.notify("Tailor: the commit message was edited while Tailor was writing one; left as it is",
        vim.log.levels.WARN)
      return "kept"
    end
    local ok, why = M.fill(bufnr, message)
    if not ok then
      vim.notify("Tailor: could not write the commit message into the buffer: " .. why, vim.log.levels.ERROR)
      return "none"
    end
    return "filled"
  end
  local regs = M.to_register(message)
  local subject = M.message_lines(message)[1]
  vim.notify(("Tailor: commit message in register %s: %s"):format(table.concat(regs, " and "), subject),
    vim.log.levels.INFO)
  return "register"
end

return M
