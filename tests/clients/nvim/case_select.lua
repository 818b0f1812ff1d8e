-- :TailorSelect sends tailor.selectModel with no argument and lists the server's ranking in
-- vim.ui.select (available candidates only, best first; the current model and the pick
-- marked); choosing another model sends {apply = id} and says "switching to"; choosing the
-- current one sends nothing; with no ranking yet it starts one ({refresh = true});
-- :TailorSelect! recomputes the ranking and shows its state instead of the menu.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.capture_notes()
local find_note = T.find_note

-- vim.ui.select stand-in: records what would be shown (the formatted lines) and chooses the
-- item whose model is `choose` (nil: the menu is dismissed).
local menus = {}
local choose = nil
vim.ui.select = function(items, opts, on_choice)
  local lines = {}
  for i, item in ipairs(items) do
    lines[i] = opts.format_item(item)
  end
  menus[#menus + 1] = { items = items, lines = lines, prompt = opts.prompt, kind = opts.kind }
  local choice, index = nil, nil
  for i, item in ipairs(items) do
    if item.model == choose then
      choice, index = item, i
    end
  end
  vim.schedule(function()
    on_choice(choice, index)
  end)
end

T.run(function()
  vim.cmd.edit(vim.env.TAILOR_TEST_FILE)
  T.client()

  -- The ranking: two available candidates listed, the unavailable one left out (named in
  -- the prompt); the current model and the pick marked; a choice applies it.
  choose = "smollm2-360m-instruct"
  vim.cmd("TailorSelect")
  local menu = T.wait_for(function()
    return menus[1]
  end, 3000, "the model menu")
  T.eq({}, T.fake_log().select[1], "the first request has no argument (arguments = [])")
  T.eq(2, #menu.lines, "available candidates only: " .. vim.inspect(menu.lines))
  T.eq("smollm2-360m-instruct  llama · 362M · predicted 0.412 · measured 0.398 · 310 ms  [pick]", menu.lines[1],
    "best first, the pick marked")
  T.eq("smollm2-135m-instruct  llama · 135M · predicted 0.301 · 120 ms  [current]", menu.lines[2], "the current model marked")
  T.eq(nil, table.concat(menu.lines, "\n"):find("qwen2.5-coder-1.5b", 1, true), "the unavailable candidate is not offered")
  T.truthy(menu.prompt:find("now smollm2-135m-instruct", 1, true), menu.prompt)
  T.truthy(menu.prompt:find("not available: qwen2.5-coder-1.5b", 1, true), menu.prompt)
  T.eq("tailor.model", menu.kind, "kind for vim.ui.select providers")
  local switching = T.wait_for(function()
    return find_note("switching to")
  end, 3000, "the switching notification")
  T.eq("Tailor: switching to smollm2-360m-instruct", switching.msg, "switching text")
  T.eq(vim.log.levels.INFO, switching.level, "switching level")
  T.expect({ "smollm2-360m-instruct" }, function()
    return T.fake_log().applied
  end, "the server applied the chosen model")
  T.eq({ { apply = "smollm2-360m-instruct" } }, T.fake_log().select[2], "apply argument")
  -- The server's tailor/status follows.
  T.expect("Tailor: smollm2-360m-instruct · base · base", function()
    return require("tailor").statusline()
  end, "statusline after the switch")

  -- Choosing the model in use: nothing sent, and said so.
  T.notes = {}
  vim.cmd("TailorSelect")
  menu = T.wait_for(function()
    return menus[2]
  end, 3000, "the second menu")
  T.truthy(menu.lines[1]:find("[current] [pick]", 1, true), menu.lines[1])
  local already = T.wait_for(function()
    return find_note("already the current model")
  end, 3000, "'already current'")
  T.eq("Tailor: smollm2-360m-instruct is already the current model", already.msg, "already text")
  T.sleep(100)
  T.eq(3, #T.fake_log().select, "no apply sent")
  T.eq(nil, find_note("switching to"), "no switching notification")

  -- Dismissing the menu does nothing.
  choose = nil
  vim.cmd("TailorSelect")
  T.wait_for(function()
    return menus[3]
  end, 3000, "the third menu")
  T.sleep(100)
  T.eq({ "smollm2-360m-instruct" }, T.fake_log().applied, "nothing applied on dismiss")

  -- :TailorSelect! recomputes: {refresh = true}, the running state notified, no menu.
  T.notes = {}
  vim.cmd("TailorSelect!")
  local running = T.wait_for(function()
    return find_note("ranking models")
  end, 3000, "the running notification")
  T.eq("Tailor: ranking models 0% · ranking 3 candidate models (0 of 3 done)", running.msg, "running text")
  local l = T.fake_log()
  T.eq({ { refresh = true } }, l.select[#l.select], "refresh argument")
  T.eq(3, #menus, "no menu after :TailorSelect!")

  -- No ranking yet: said so, and a ranking is started; no menu.
  T.exec("fake.selectMode", { state = "none" })
  T.notes = {}
  local before = #T.fake_log().select
  vim.cmd("TailorSelect")
  local none = T.wait_for(function()
    return find_note("no model ranking yet")
  end, 3000, "the 'no ranking yet' notification")
  T.eq(vim.log.levels.INFO, none.level, "none level")
  T.expect({ { refresh = true } }, function()
    l = T.fake_log()
    return #l.select == before + 2 and l.select[#l.select] or nil
  end, "a ranking started after [] answered none")
  T.eq({}, l.select[before + 1], "first the plain request")
  T.wait_for(function()
    return find_note("Tailor: ranking models 0%")
  end, 3000, "the state of the started ranking")
  T.eq(3, #menus, "no menu without a ranking")

  -- Disabled: the server's message, no menu.
  T.exec("fake.selectMode", { state = "disabled" })
  T.notes = {}
  vim.cmd("TailorSelect")
  local disabled = T.wait_for(function()
    return find_note("selector.enable")
  end, 3000, "the disabled notification")
  T.eq("Tailor: model selection is off (selector.enable is false)", disabled.msg, "disabled text")
  T.eq(vim.log.levels.WARN, disabled.level, "disabled level")
  T.sleep(100)
  T.eq(3, #menus, "no menu when disabled")

  -- The Lua API with a callback: the result, nothing shown.
  T.exec("fake.selectMode", { state = "ready" })
  T.notes = {}
  local got
  require("tailor").select_model(nil, function(err, result)
    got = { err = err, result = result }
  end)
  T.wait_for(function()
    return got
  end, 3000, "select_model() callback")
  T.eq(nil, got.err, "no error")
  T.eq("ready", got.result.state, "state")
  T.eq("smollm2-360m-instruct", got.result.current, "current")
  T.eq(3, #got.result.candidates, "all candidates in the result")
  T.sleep(100)
  T.eq(3, #menus, "no menu with a callback")
  T.eq({}, T.notes, "nothing notified with a callback")
end, 30)
