-- Plugin options and the mapping from user settings to Tailor's LSP settings
-- (DESIGN.md, "Settings": nested objects with camelCase keys).
local M = {}

M.defaults = {
  -- Command that starts the server. nil: { server_path, "serve" }.
  cmd = nil,
  -- The tailor executable (a name on PATH or a path).
  server_path = "tailor",
  -- Extra environment for the server process, e.g. { TAILOR_HOME = "/data/tailor" }.
  cmd_env = nil,
  -- File types the server attaches to.
  filetypes = {
    "python", "lua", "javascript", "javascriptreact", "typescript", "typescriptreact",
    "go", "rust", "c", "cpp", "java", "sh", "ruby", "gitcommit",
  },
  -- Files that mark a project root (the server also finds the git root itself).
  root_markers = { ".git" },
  -- Tailor's settings, sent as initializationOptions and
  -- workspace/didChangeConfiguration { settings = { tailor = ... } }.
  -- Keys as in DESIGN.md (camelCase); snake_case and dotted keys are accepted too:
  --   { completion = { max_new_tokens = 32 } } or { ["completion.maxNewTokens"] = 32 }
  settings = {},
  inline = {
    enable = true,
    -- Milliseconds of quiet typing before a request is sent.
    debounce_ms = 150,
    -- "auto": use vim.lsp.inline_completion where Neovim has it (0.12+);
    -- false: always use the plugin's own ghost text; true: require the built-in.
    builtin = "auto",
    -- Highlight group of the ghost text (linked to Comment unless you define it).
    hl_group = "TailorGhost",
  },
  -- Adapter training (:TailorTrain): echo its progress in the command line. Set
  -- echo = false when a progress UI (fidget.nvim, vim.lsp.status() in the statusline)
  -- shows LSP progress already; the start and the result are notified either way.
  progress = {
    echo = true,
  },
  -- Insert-mode keys; set one to false to leave it unmapped. Each one falls back to
  -- the key's usual meaning when no suggestion is shown.
  keymaps = {
    accept = "<Tab>",
    accept_word = "<M-Right>",
    accept_line = "<M-C-Right>",
    dismiss = "<C-]>",
    trigger = "<M-\\>",
  },
}

-- Keys whose values are lists (kept as JSON arrays even when empty).
local LIST_KEYS = { ["selector.candidates"] = true }

local function camel(key)
  return (key:gsub("_(%w)", function(c)
    return c:upper()
  end))
end

local function is_list(t)
  if type(t) ~= "table" then
    return false
  end
  if vim.islist then
    return vim.islist(t) and next(t) ~= nil
  end
  return vim.tbl_islist(t) and next(t) ~= nil
end

local function convert(value, path)
  if type(value) ~= "table" then
    return value
  end
  if next(value) == nil then
    return LIST_KEYS[path] and {} or vim.empty_dict()
  end
  if is_list(value) then
    local out = {}
    for i, v in ipairs(value) do
      out[i] = convert(v, path .. "[]")
    end
    return out
  end
  local out = {}
  for k, v in pairs(value) do
    local parts = vim.split(tostring(k), ".", { plain = true })
    local node = out
    local p = path
    for i, part in ipairs(parts) do
      local ck = camel(part)
      p = (p == "" and ck) or (p .. "." .. ck)
      if i == #parts then
        local cv = convert(v, p)
        if type(node[ck]) == "table" and type(cv) == "table" and not is_list(cv) and next(cv) ~= nil then
          node[ck] = vim.tbl_deep_extend("force", node[ck], cv)
        else
          node[ck] = cv
        end
      else
        if type(node[ck]) ~= "table" or next(node[ck]) == nil then
          node[ck] = {}
        end
        node = node[ck]
      end
    end
  end
  return out
end

--- User settings -> the object the server expects (camelCase, nested; `{}` stays an object).
function M.to_lsp(settings)
  local out = convert(settings or {}, "")
  if type(out) ~= "table" or next(out) == nil then
    return vim.empty_dict()
  end
  return out
end

--- Merge user options over the defaults.
function M.resolve(opts)
  opts = opts or {}
  local cfg = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts)
  -- Lists given by the user replace the defaults instead of merging index by index.
  if opts.filetypes then
    cfg.filetypes = opts.filetypes
  end
  if opts.root_markers then
    cfg.root_markers = opts.root_markers
  end
  if opts.cmd then
    cfg.cmd = opts.cmd
  end
  if not cfg.cmd then
    cfg.cmd = { cfg.server_path, "serve" }
  end
  return cfg
end

--- Whether inline completion is on, from the settings' completion.enable.
function M.completion_enabled(cfg)
  if not cfg or (cfg.inline and cfg.inline.enable == false) then
    return false
  end
  local s = M.to_lsp(cfg.settings)
  if type(s.completion) == "table" and s.completion.enable == false then
    return false
  end
  return true
end

return M
