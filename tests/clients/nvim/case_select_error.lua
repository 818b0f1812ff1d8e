-- :TailorSelect when the server refuses the apply (the chosen model cannot be used): the
-- server's message is shown with vim.notify (ERROR), nothing is raised, the model stays; an
-- unknown model id through the Lua API and a failed ranking are notified the same way; the
-- plugin keeps working.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.capture_notes()
local find_note = T.find_note

local menus = {}
vim.ui.select = function(items, opts, on_choice)
  menus[#menus + 1] = { items = items, prompt = opts.prompt }
  local choice = items[1] -- the pick, smollm2-360m-instruct
  vim.schedule(function()
    on_choice(choice, 1)
  end)
end

T.run(function()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  T.client()
  vim.v.errmsg = ""

  -- The server refuses the apply: an ERROR notification with its message.
  T.exec("fake.selectMode", { applyError = "model smollm2-360m-instruct could not be loaded: no space left" })
  vim.cmd("TailorSelect")
  local err = T.wait_for(function()
    return find_note("could not switch")
  end, 3000, "the apply error notification")
  T.eq(vim.log.levels.ERROR, err.level, "error level")
  T.eq("Tailor: could not switch to smollm2-360m-instruct: model smollm2-360m-instruct could not be loaded: no space left",
    err.msg, "error text")
  T.truthy(find_note("switching to smollm2-360m-instruct"), "the switch was announced before the error")
  T.eq({}, T.fake_log().applied, "nothing applied")
  T.eq("", vim.v.errmsg, "no Lua error")
  T.eq("Tailor: fake-model · base · base", require("tailor").statusline(), "the model stays")

  -- An unknown model id (Lua API, no callback): the server's JSON-RPC error, notified.
  T.exec("fake.selectMode", { applyError = vim.NIL })
  T.notes = {}
  require("tailor").select_model({ apply = "no-such-model" })
  local unknown = T.wait_for(function()
    return find_note("could not switch to no-such-model")
  end, 3000, "the unknown-model notification")
  T.eq(vim.log.levels.ERROR, unknown.level, "unknown level")
  T.truthy(unknown.msg:find("^Tailor: could not switch to no%-such%-model: .*unknown model 'no%-such%-model'"), unknown.msg)
  -- With a callback the error goes to the callback.
  local got
  require("tailor").select_model({ apply = "qwen2.5-coder-1.5b" }, function(e, result)
    got = { err = e, result = result }
  end)
  T.wait_for(function()
    return got
  end, 3000, "select_model() callback")
  T.truthy(got.err and got.err.message:find("not available", 1, true), vim.inspect(got))
  T.eq(nil, got.result, "no result")

  -- A failed ranking: its message (ERROR), then the older ranking in the menu.
  T.exec("fake.selectMode", { state = "error" })
  T.notes = {}
  local shown = #menus
  vim.cmd("TailorSelect")
  local failed = T.wait_for(function()
    return find_note("model ranking failed")
  end, 3000, "the ranking-failed notification")
  T.eq("Tailor: model ranking failed: the fake was asked to fail", failed.msg, "failed text")
  T.eq(vim.log.levels.ERROR, failed.level, "failed level")
  T.wait_for(function()
    return #menus == shown + 1
  end, 3000, "the older ranking's menu")

  -- Still working: the apply goes through now.
  T.expect({ "smollm2-360m-instruct" }, function()
    return T.fake_log().applied
  end, "applied after the errors")
  T.eq("", vim.v.errmsg, "no Lua error at all")
end, 30)
