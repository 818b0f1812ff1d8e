-- Settings reach the server; :TailorStatus, the statusline and tailor/status; cancellation;
-- :checkhealth tailor.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.run(function()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  local client = T.client()
  T.truthy(client.server_capabilities.inlineCompletionProvider, "inlineCompletionProvider")

  -- Settings: initializationOptions (camelCase, nested) and didChangeConfiguration.
  local log = T.fake_log()
  T.eq({ completion = { maxNewTokens = 16, multiline = "never" }, logLevel = "debug", selector = { candidates = {} } },
    log.initOptions, "initializationOptions")
  T.eq({ tailor = log.initOptions }, log.settings[1], "didChangeConfiguration at start")
  require("tailor").set_settings({ completion = { timeoutMs = 500 } })
  T.wait_for(function()
    log = T.fake_log()
    return #log.settings == 2
  end, 3000, "second didChangeConfiguration")
  T.eq(500, log.settings[2].tailor.completion.timeoutMs, "changed setting")
  T.eq(16, log.settings[2].tailor.completion.maxNewTokens, "kept setting")

  -- Status: notification at start, :TailorStatus, statusline.
  T.wait_for(function()
    return require("tailor").statusline() == "Tailor: fake-model · base · base"
  end, 5000, "statusline from tailor/status")
  vim.cmd("TailorStatus")
  T.wait_for(function()
    return require("tailor.status").current.backend == "fake"
  end, 3000, ":TailorStatus result")
  T.exec("fake.bumpStatus", vim.empty_dict())
  T.wait_for(function()
    return require("tailor").statusline() == "Tailor: fake-model · v1 · active · 1 job"
  end, 3000, "statusline after a tailor/status notification")
  local desc = require("tailor.status").describe()
  T.truthy(desc:find("backend:%s+fake"), "describe() " .. desc)

  -- Cancellation: a slow request is cancelled when the user types on.
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
  T.input("ix = slow")
  T.wait_for(function()
    return require("tailor.ghost")._state().pending
  end, 3000, "a pending request")
  T.input("er", 300)
  T.wait_for(function()
    log = T.fake_log()
    return log.cancelled >= 1
  end, 3000, "the server to see $/cancelRequest")
  T.input("<Esc>")

  -- :checkhealth tailor
  vim.cmd("checkhealth tailor")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  T.truthy(text:find("server executable"), "health section\n" .. text)
  T.truthy(text:find("found"), "health: executable found\n" .. text)
  T.truthy(text:find("client %d+ running"), "health: running\n" .. text)
  T.truthy(not text:find("ERROR"), "health has no ERROR\n" .. text)
end, 30)
