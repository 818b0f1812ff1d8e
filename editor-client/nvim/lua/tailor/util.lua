-- Small compatibility helpers: the same calls on Neovim 0.10 (dot methods) and 0.11+.
local M = {}

M.has_011 = vim.fn.has("nvim-0.11") == 1

M.uv = vim.uv or vim.loop

--- Send a request through an LSP client. Returns ok, request_id.
function M.request(client, method, params, handler, bufnr)
  if M.has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if M.has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.cancel(client, request_id)
  if not (client and request_id) then
    return
  end
  pcall(function()
    if M.has_011 then
      client:cancel_request(request_id)
    else
      client.cancel_request(request_id)
    end
  end)
end

--- The running Tailor client for a buffer (or any Tailor client when bufnr is nil).
function M.get_client(bufnr)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local clients = get({ name = "tailor", bufnr = bufnr })
  for _, c in ipairs(clients) do
    local stopped = false
    if c.is_stopped then
      if M.has_011 then
        stopped = c:is_stopped()
      else
        stopped = c.is_stopped()
      end
    end
    if not stopped then
      return c
    end
  end
  return nil
end

--- Byte index in `line` of an LSP character offset in the client's encoding.
function M.byte_col(line, character, encoding)
  encoding = encoding or "utf-16"
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  if ok and type(col) == "number" then
    return col
  end
  ok, col = pcall(vim.str_byteindex, line, character, encoding == "utf-16")
  if ok and type(col) == "number" then
    return col
  end
  return math.min(character, #line)
end

function M.changedtick(bufnr)
  return vim.api.nvim_buf_get_changedtick(bufnr)
end

function M.in_insert_mode()
  local mode = vim.api.nvim_get_mode().mode
  return mode:sub(1, 1) == "i"
end

return M
