-- Inline completion as ghost text, for Neovim versions without vim.lsp.inline_completion.
--
-- In insert mode a text change starts a debounced `textDocument/inlineCompletion` request;
-- the first non-empty item is drawn with an extmark (inline virt_text for its first line,
-- virt_lines for the rest). Typing the suggestion's next characters shrinks it instead of
-- asking again; any other edit or cursor move dismisses it. Accepting inserts the text and
-- runs the item's command (`tailor.accepted`) through workspace/executeCommand.
local util = require("tailor.util")

local M = {}

M.ns = vim.api.nvim_create_namespace("tailor.ghost")

M.opts = { debounce_ms = 150, hl_group = "TailorGhost", enabled = true }

---@type table<integer, table>
local states = {}

local function state(bufnr)
  local st = states[bufnr]
  if not st then
    st = { bufnr = bufnr }
    states[bufnr] = st
  end
  return st
end

function M._state(bufnr)
  return states[bufnr or vim.api.nvim_get_current_buf()]
end

local function get_line(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

local function cursor(bufnr)
  local win = vim.api.nvim_get_current_win()
  if vim.api.nvim_win_get_buf(win) ~= bufnr then
    return nil
  end
  local pos = vim.api.nvim_win_get_cursor(win)
  return pos[1] - 1, pos[2], win
end

local function clear_mark(st)
  if st.extmark then
    pcall(vim.api.nvim_buf_del_extmark, st.bufnr, M.ns, st.extmark)
    st.extmark = nil
  end
end

local function stop_timer(st)
  if st.timer then
    st.timer:stop()
  end
end

local function cancel_pending(st)
  if st.pending then
    local client = vim.lsp.get_client_by_id(st.pending.client_id)
    util.cancel(client, st.pending.id)
    st.pending = nil
  end
end

--- Tell the server how much of a suggestion was taken (tailor.accepted). `full`: the whole
--- item was inserted, so its command runs as given; otherwise acceptedChars is set.
local function report(sugg, full)
  local cmd = sugg.item and sugg.item.command
  if type(cmd) ~= "table" or type(cmd.command) ~= "string" then
    return
  end
  if not full and sugg.accepted_chars <= 0 then
    return
  end
  local client = vim.lsp.get_client_by_id(sugg.client_id)
  if not client then
    return
  end
  local args = cmd.arguments
  if not full then
    args = vim.deepcopy(args or {})
    if type(args[1]) ~= "table" then
      args[1] = {}
    end
    args[1].acceptedChars = sugg.accepted_chars
  end
  if args == nil or (type(args) == "table" and next(args) == nil) then
    args = nil
  end
  util.request(client, "workspace/executeCommand", { command = cmd.command, arguments = args }, function() end, sugg.bufnr)
  if M.on_report then
    M.on_report(cmd.command, args, full)
  end
end

local function expand_tabs(s, bufnr)
  local ts = vim.bo[bufnr].tabstop
  return (s:gsub("\t", string.rep(" ", ts > 0 and ts or 8)))
end

local function render(st)
  local s = st.sugg
  if not s then
    clear_mark(st)
    return
  end
  local lines = vim.split(s.text, "\n", { plain = true })
  local hl = M.opts.hl_group
  local opts = { id = st.extmark, hl_mode = "combine", priority = 65534 }
  if lines[1] ~= "" then
    opts.virt_text = { { expand_tabs(lines[1], st.bufnr), hl } }
    opts.virt_text_pos = "inline"
  end
  if #lines > 1 then
    local vl = {}
    for i = 2, #lines do
      vl[#vl + 1] = { { expand_tabs(lines[i], st.bufnr), hl } }
    end
    opts.virt_lines = vl
  end
  local ok, id = pcall(vim.api.nvim_buf_set_extmark, st.bufnr, M.ns, s.row, s.col, opts)
  if ok then
    st.extmark = id
  else
    st.extmark = nil
  end
end

--- Drop the suggestion (reporting any part already taken).
local function drop(st)
  local s = st.sugg
  st.sugg = nil
  clear_mark(st)
  if s then
    report(s, false)
  end
end

--- Is the suggestion still anchored at the cursor? Shrinks it when the user typed its next
--- characters. Returns true when it is still valid.
local function sync(st)
  local s = st.sugg
  if not s then
    return false
  end
  local row, col = cursor(st.bufnr)
  if not row then
    return false
  end
  local tick = util.changedtick(st.bufnr)
  if tick == s.tick then
    return row == s.row and col == s.col
  end
  if row ~= s.row or col <= s.col then
    return false
  end
  local line = get_line(st.bufnr, row)
  if line:sub(1, s.col) ~= s.prefix or line:sub(col + 1) ~= s.suffix then
    return false
  end
  local typed = line:sub(s.col + 1, col)
  if s.text:sub(1, #typed) ~= typed then
    return false
  end
  s.text = s.text:sub(#typed + 1)
  s.accepted_chars = s.accepted_chars + vim.fn.strchars(typed)
  s.col = col
  s.prefix = line:sub(1, col)
  s.tick = tick
  if s.text == "" then
    -- Typed all of it: same as accepting.
    st.sugg = nil
    clear_mark(st)
    report(s, true)
    return false
  end
  return true
end

--- Is a suggestion shown at the cursor of this buffer? (Pure check, safe in expr mappings.)
function M.visible(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = states[bufnr]
  if not (st and st.sugg) then
    return false
  end
  local row, col = cursor(bufnr)
  return row == st.sugg.row and col == st.sugg.col and util.changedtick(bufnr) == st.sugg.tick
end

--- The remaining suggestion text at the cursor, or nil.
function M.text(bufnr)
  local st = states[bufnr or vim.api.nvim_get_current_buf()]
  return st and st.sugg and st.sugg.text or nil
end

local function item_text(raw)
  local t = raw.insertText
  if type(t) == "table" then
    t = t.value
    if type(t) == "string" then
      -- Snippet: keep placeholder text, drop tab stops.
      t = t:gsub("%${%d+:([^}]*)}", "%1"):gsub("%$%d+", ""):gsub("\\([$}\\])", "%1")
    end
  end
  if type(t) ~= "string" then
    return nil
  end
  return (t:gsub("\r\n", "\n"))
end

local function on_result(st, client, snap, result)
  if result == nil or result == vim.NIL then
    return
  end
  local items = result.items or result
  if type(items) ~= "table" then
    return
  end
  if not util.in_insert_mode() or vim.api.nvim_get_current_buf() ~= st.bufnr then
    return
  end
  for _, raw in ipairs(items) do
    local text = item_text(raw)
    local replace_after = 0
    if text and raw.range and raw.range.start then
      local r = raw.range
      if r.start.line ~= snap.row then
        text = nil
      else
        local start_col = util.byte_col(snap.line, r.start.character, client.offset_encoding)
        if start_col < snap.col then
          local typed = snap.line:sub(start_col + 1, snap.col)
          if text:sub(1, #typed) == typed then
            text = text:sub(#typed + 1)
          else
            text = nil
          end
        elseif start_col > snap.col then
          text = nil
        end
        if text and r["end"] and r["end"].line == snap.row then
          local end_col = util.byte_col(snap.line, r["end"].character, client.offset_encoding)
          if end_col > snap.col then
            replace_after = end_col - snap.col
          end
        end
      end
    end
    if text and text ~= "" then
      if st.sugg then
        drop(st)
      end
      st.sugg = {
        bufnr = st.bufnr,
        client_id = client.id,
        item = raw,
        text = text,
        row = snap.row,
        col = snap.col,
        prefix = snap.line:sub(1, snap.col),
        suffix = snap.line:sub(snap.col + 1),
        replace_after = replace_after,
        tick = snap.tick,
        accepted_chars = 0,
      }
      if sync(st) then
        render(st)
      else
        if st.sugg then
          drop(st)
        end
      end
      return
    end
  end
end

--- Send a textDocument/inlineCompletion request now. kind: 1 = invoked, 2 = automatic.
function M.request(bufnr, kind)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if not M.opts.enabled then
    return false
  end
  local st = state(bufnr)
  local client = util.get_client(bufnr)
  if not client then
    return false
  end
  local row, col, win = cursor(bufnr)
  if not row then
    return false
  end
  cancel_pending(st)
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding or "utf-16")
  params.context = { triggerKind = kind or 2 }
  local snap = { row = row, col = col, line = get_line(bufnr, row), tick = util.changedtick(bufnr) }
  local req = {}
  local ok, id = util.request(client, "textDocument/inlineCompletion", params, function(err, result)
    if st.pending ~= req then
      return -- superseded or cancelled
    end
    st.pending = nil
    if err then
      return
    end
    on_result(st, client, snap, result)
  end, bufnr)
  if ok and id then
    req.id = id
    req.client_id = client.id
    st.pending = req
    st.requests = (st.requests or 0) + 1
  end
  return ok
end

--- Debounced request (called on every text change in insert mode).
function M.schedule(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if not M.opts.enabled then
    return
  end
  local st = state(bufnr)
  if not st.timer then
    st.timer = util.uv.new_timer()
  end
  st.timer:stop()
  st.timer:start(M.opts.debounce_ms, 0, vim.schedule_wrap(function()
    if not vim.api.nvim_buf_is_valid(bufnr) then
      return
    end
    if util.in_insert_mode() and vim.api.nvim_get_current_buf() == bufnr then
      M.request(bufnr, 2)
    end
  end))
end

local function insert_text(bufnr, win, row, col, end_col, text)
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row, col, row, end_col, lines)
  local new_row, new_col
  if #lines == 1 then
    new_row, new_col = row, col + #lines[1]
  else
    new_row, new_col = row + #lines - 1, #lines[#lines]
  end
  vim.api.nvim_win_set_cursor(win, { new_row + 1, new_col })
  return new_row, new_col
end

--- Accept the whole suggestion. Returns true when one was accepted.
function M.accept(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = states[bufnr]
  if not (st and st.sugg and sync(st)) then
    return false
  end
  local s = st.sugg
  local _, _, win = cursor(bufnr)
  st.sugg = nil
  clear_mark(st)
  stop_timer(st)
  cancel_pending(st)
  insert_text(bufnr, win, s.row, s.col, s.col + s.replace_after, s.text)
  s.accepted_chars = s.accepted_chars + vim.fn.strchars(s.text)
  report(s, true)
  return true
end

local function next_word(text)
  if text:sub(1, 1) == "\n" then
    return text:match("^\n[ \t]*") or "\n"
  end
  return text:match("^[ \t]*[%w_]+") or text:match("^[ \t]*[^%w_%s]+") or text:match("^%s+") or text
end

local function next_line(text)
  if text:sub(1, 1) == "\n" then
    return "\n" .. (text:sub(2):match("^[^\n]*") or "")
  end
  return text:match("^[^\n]*") or text
end

M._next_word, M._next_line = next_word, next_line

--- Accept part of the suggestion: "word" or "line". The rest stays shown.
function M.accept_part(bufnr, kind)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = states[bufnr]
  if not (st and st.sugg and sync(st)) then
    return false
  end
  local s = st.sugg
  local part = kind == "line" and next_line(s.text) or next_word(s.text)
  if part == "" then
    return false
  end
  if part == s.text then
    return M.accept(bufnr)
  end
  local _, _, win = cursor(bufnr)
  stop_timer(st)
  cancel_pending(st)
  local row, col = insert_text(bufnr, win, s.row, s.col, s.col, part)
  local line = get_line(bufnr, row)
  s.text = s.text:sub(#part + 1)
  s.accepted_chars = s.accepted_chars + vim.fn.strchars(part)
  s.row, s.col = row, col
  s.prefix = line:sub(1, col)
  s.suffix = line:sub(col + 1)
  s.tick = util.changedtick(bufnr)
  render(st)
  return true
end

--- Hide the suggestion (and stop any request in flight). Returns true when one was shown.
function M.dismiss(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = states[bufnr]
  if not st then
    return false
  end
  local had = st.sugg ~= nil
  stop_timer(st)
  cancel_pending(st)
  drop(st)
  return had
end

-- Autocommand handlers ------------------------------------------------------------------

local function on_changed(bufnr)
  local st = state(bufnr)
  if st.sugg then
    if sync(st) then
      render(st)
      return
    end
    drop(st)
  end
  M.schedule(bufnr)
end

local function on_moved(bufnr)
  local st = states[bufnr]
  if st and st.sugg and not sync(st) then
    drop(st)
  end
end

--- Attach the ghost-text machinery to a buffer (idempotent).
function M.attach(bufnr)
  local st = state(bufnr)
  if st.augroup then
    return
  end
  st.augroup = vim.api.nvim_create_augroup("tailor.ghost." .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "TextChangedI", "TextChangedP" }, {
    group = st.augroup,
    buffer = bufnr,
    callback = function()
      on_changed(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd("CursorMovedI", {
    group = st.augroup,
    buffer = bufnr,
    callback = function()
      on_moved(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = st.augroup,
    buffer = bufnr,
    callback = function()
      M.dismiss(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ "BufUnload", "BufWipeout" }, {
    group = st.augroup,
    buffer = bufnr,
    callback = function()
      M.detach(bufnr)
    end,
  })
end

function M.detach(bufnr)
  local st = states[bufnr]
  if not st then
    return
  end
  M.dismiss(bufnr)
  if st.timer then
    st.timer:stop()
    if not st.timer:is_closing() then
      st.timer:close()
    end
  end
  if st.augroup then
    pcall(vim.api.nvim_del_augroup_by_id, st.augroup)
  end
  states[bufnr] = nil
end

return M
