-- A repair code action from the real `tailor serve` and the real default model.
--
-- geometry.py in the test repository uses an undefined name (`raduis`). A code action
-- request (triggerKind Invoked) with a Pyflakes diagnostic at it must be answered without
-- an error; whether the small model finds a fix is not guaranteed, so no action is
-- required, but every action returned must carry an edit that, applied with
-- vim.lsp.util.apply_workspace_edit, leaves parseable Python without `raduis`.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")
local timeout_s = tonumber(vim.env.TAILOR_TEST_TIMEOUT or "300")

local SOURCE = {
  "def area(radius):",
  "    return 3.14 * raduis ** 2",
}

local function parses(text)
  vim.fn.system({ "python3", "-c", "import ast, sys; ast.parse(sys.stdin.read())" }, text)
  return vim.v.shell_error == 0
end

T.run(function()
  local repo = vim.fs.dirname(vim.env.TAILOR_TEST_FILE)
  local file = repo .. "/geometry.py"
  vim.fn.writefile(SOURCE, file)
  vim.cmd.edit(file)
  T.eq("python", vim.bo.filetype, "filetype")
  local buf = vim.api.nvim_get_current_buf()
  local client = T.client(60000)
  T.truthy(client.server_capabilities.codeActionProvider, "server advertises codeActionProvider")
  local encoding = client.offset_encoding or "utf-16"

  local start_col = SOURCE[2]:find("raduis", 1, true) - 1
  local range = {
    start = { line = 1, character = start_col },
    ["end"] = { line = 1, character = start_col + #"raduis" },
  }
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = range,
    context = {
      diagnostics = {
        { range = range, message = "undefined name 'raduis'", source = "Pyflakes", severity = 1 },
      },
      triggerKind = 1, -- Invoked: the model runs now
    },
  }
  local t0 = vim.uv.now()
  local responses, err = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", params, 180000)
  T.log(("code actions after %d ms"):format(vim.uv.now() - t0))
  T.eq(nil, err, "buf_request_sync error (timeout?)")
  T.truthy(responses, "responses")
  local response = T.truthy(responses[client.id], "a response from the tailor client")
  T.eq(nil, response.err, "code action request error")
  local actions = response.result
  if actions == nil or actions == vim.NIL then
    actions = {}
  end
  T.log(("%d action(s)"):format(#actions))

  local original = table.concat(SOURCE, "\n") .. "\n"
  for i, action in ipairs(actions) do
    T.log(("action %d: %s (%s)"):format(i, tostring(action.title), tostring(action.kind)))
    T.truthy(type(action.edit) == "table", ("action %d has an edit: %s"):format(i, vim.inspect(action)))
    local edit = action.edit
    if i > 1 then
      -- The buffer was restored after the previous action (a newer version than the one
      -- the edits were made for): apply this one to the same text regardless of version.
      edit = vim.deepcopy(edit)
      for _, change in ipairs(edit.documentChanges or {}) do
        if change.textDocument then
          change.textDocument.version = nil
        end
      end
    end
    vim.lsp.util.apply_workspace_edit(edit, encoding)
    local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    local text = table.concat(lines, "\n") .. "\n"
    T.log(("after action %d:\n%s"):format(i, text))
    T.truthy(text ~= original, ("action %d changes the buffer"):format(i))
    T.truthy(parses(text), ("action %d leaves parseable Python:\n%s"):format(i, text))
    T.truthy(not text:find("raduis", 1, true), ("action %d removes 'raduis':\n%s"):format(i, text))
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, SOURCE)
  end
  T.eq(SOURCE, vim.api.nvim_buf_get_lines(buf, 0, -1, false), "buffer restored")
end, timeout_s)
