-- Pure-Lua parts of the plugin (no server): settings mapping, status text, word/line split.
local T = dofile(vim.env.TAILOR_TEST_DIR .. "/harness.lua")

T.run(function()
  local config = require("tailor.config")
  local json = function(v)
    return vim.json.encode(config.to_lsp(v))
  end
  T.eq("{}", json({}), "empty settings are an object")
  T.eq("{}", json(nil), "nil settings")
  local s = config.to_lsp({
    model = "smollm2-135m-instruct",
    completion = { max_new_tokens = 32, enable = false },
    ["completion.timeoutMs"] = 800,
    ["training.budget"] = "90s",
    selector = { candidates = {}, auto_switch = true },
    adapters = {},
    log_level = "debug",
  })
  T.eq({ maxNewTokens = 32, enable = false, timeoutMs = 800 }, s.completion, "completion")
  T.eq({ budget = "90s" }, s.training, "dotted key")
  T.eq(true, s.selector.autoSwitch, "snake_case")
  T.eq("debug", s.logLevel, "logLevel")
  local encoded = vim.json.decode(vim.json.encode(s), { luanil = { object = true } })
  T.eq("[]", vim.json.encode(s.selector.candidates), "list key stays a list")
  T.eq("{}", vim.json.encode(s.adapters), "empty object stays an object")
  T.truthy(encoded.completion, "round trip")
  T.eq(false, config.completion_enabled({ settings = { completion = { enable = false } }, inline = {} }), "completion.enable")
  T.eq(true, config.completion_enabled({ settings = {}, inline = { enable = true } }), "enabled by default")
  local cfg = config.resolve({ server_path = "/opt/tailor/bin/tailor", filetypes = { "python" } })
  T.eq({ "/opt/tailor/bin/tailor", "serve" }, cfg.cmd, "cmd from server_path")
  T.eq({ "python" }, cfg.filetypes, "filetypes replace the defaults")
  T.eq("<Tab>", cfg.keymaps.accept, "default accept key")

  local status = require("tailor.status")
  T.eq(nil, status.short(nil), "no status")
  T.eq("Tailor: m · base", status.short({ model = "m", adapter = vim.NIL, adapterState = "none", jobs = {} }), "short")
  T.eq("Tailor: m · v20250101 · active · 2 jobs",
    status.short({ model = "m", adapter = { version = "v20250101" }, adapterState = "active", jobs = { {}, {} } }), "short with jobs")
  local real = { model = "m", adapter = vim.NIL, adapterState = "none", jobs = {}, ranking = vim.NIL, state = "loading", dataDir = "/d" }
  T.eq("Tailor: m · base · loading", status.short(real), "server state while loading")
  real.state = "ready"
  T.eq("Tailor: m · base · ready", status.short(real), "ready")
  T.truthy(status.describe(real):find("dataDir:%s+/d"), "extra keys in describe")
  T.truthy(status.describe({ model = "m", ranking = { { model = "a", score = 0.5 } } }):find("1%. a  0.5"), "ranking")

  -- Training: jobs in the short status, budget check, result levels, progress line.
  local base = { model = "m", adapter = vim.NIL, adapterState = "none" }
  T.eq("Tailor: m · base · training 42%", status.short(vim.tbl_extend("force", base, {
    jobs = { { id = "train-1", kind = "train", state = "running", fraction = 0.4249 } } })), "training %")
  T.eq("Tailor: m · base · training", status.short(vim.tbl_extend("force", base, {
    jobs = { { id = "train-1", kind = "train", state = "starting" } } })), "training before a report")
  T.eq("Tailor: m · v1 · not-better", status.short(vim.tbl_extend("force", base, { adapter = "v1", adapterState = "not-better",
    jobs = { { id = "train-1", kind = "train", state = "done", fraction = 1 }, { id = "train-2", kind = "train", state = "cancelled" } } })),
    "finished jobs are not shown")
  T.eq("Tailor: m · base · training 10% · 1 job", status.short(vim.tbl_extend("force", base, {
    jobs = { { kind = "rank" }, { kind = "train", state = "running", fraction = 0.1 } } })), "training and another job")
  T.eq("train-1  train  running 43%  budget 30s  /r", status.job_text({ id = "train-1", kind = "train", state = "running",
    fraction = 0.43, budget = "30s", repo = "/r" }), "job line")
  local train = require("tailor.train")
  for _, ok in ipairs({ "90s", "10m", "1h", "1.5h", " 30s ", "200k-tokens", "5000-tokens", "1m-tokens", "2K tokens" }) do
    T.truthy(train.check_budget(ok), "budget " .. ok)
  end
  T.eq("30s", train.check_budget(" 30s "), "trimmed")
  for _, bad in ipairs({ "", "soon", "0s", "10", "-5m", "1.s", "10 days", "0.5-tokens" }) do
    local v, err = train.check_budget(bad)
    T.eq(nil, v, "bad budget " .. vim.inspect(bad))
    T.truthy(err:find("bad training budget"), "message for " .. bad)
  end
  T.eq(vim.log.levels.INFO, train.level("adapter trained and active (held-out loss 2 -> 1)"), "level trained")
  T.eq(vim.log.levels.WARN, train.level("adapter stored but not used: not better than the base model (x)"), "level not better")
  T.eq(vim.log.levels.WARN, train.level("training cancelled; nothing saved"), "level cancelled")
  T.eq(vim.log.levels.ERROR, train.level("training failed: boom"), "level failed")
  T.eq("Tailor: training repo 42% · 1.0k tokens", train.progress_text({ repo = "repo", percentage = 42, message = "1.0k tokens" }), "progress line")
  T.eq("Tailor: training 0%", train.progress_text({}), "progress line without repo")

  -- Commit messages: the message area ends at git's comment block.
  local commit = require("tailor.commit")
  T.eq({ 1, true }, { commit.area_end({ "", "# Please enter", "#" }) }, "template: one empty line")
  T.eq({ 3, true }, { commit.area_end({ "subject", "", "body", "# c", "not a comment" }) }, "message before comments")
  T.eq({ 2, false }, { commit.area_end({ "subject", "body" }) }, "no comment block")
  T.eq({ 0, true }, { commit.area_end({ "# only comments" }) }, "comments only")
  T.eq({ "s", "", "b" }, commit.message_lines("s\r\n\r\nb\n\n"), "message lines")
  T.eq({ "s" }, commit.message_lines("s"), "subject only")

  -- Model selection: argument lists, menu lines with their markers, prompt, progress.
  local sel = require("tailor.select")
  T.eq("[]", vim.json.encode(sel.arguments({})), "no argument: []")
  T.eq({ { refresh = true } }, sel.arguments({ bang = true }), ":TailorSelect!")
  T.eq({ { apply = "m2" } }, sel.arguments({ apply = "m2" }), "apply")
  T.eq("135M", sel.params_text(134515008), "params in M")
  T.eq("1544M", sel.params_text(1543714304), "billions in M")
  T.eq("3.5M", sel.params_text(3500000), "small models")
  T.eq("2M", sel.params_text(2000000), "no .0")
  T.eq(nil, sel.params_text(vim.NIL), "unknown params")
  local ranking = {
    current = "a", pick = "b", state = "ready",
    candidates = {
      { model = "b", kind = "llama", parameters = 360000000, predicted_score = 0.5, measured_score = vim.NIL,
        latency_ms = 812.4, within_latency_budget = false, available = true },
      { model = "a", kind = "gpt2", parameters = vim.NIL, predicted_score = vim.NIL, measured_score = 0.25,
        latency_ms = vim.NIL, within_latency_budget = vim.NIL, available = true },
      { model = "c", kind = "qwen2", available = false, skipped = "no network" },
    },
  }
  T.eq("b  llama · 360M · predicted 0.500 · 812 ms  [pick] [over budget]", sel.format_item(ranking.candidates[1], ranking),
    "pick over budget")
  T.eq("a  gpt2 · measured 0.250  [current]", sel.format_item(ranking.candidates[2], ranking), "current, little known")
  T.eq({ "b", "a" }, vim.tbl_map(function(c)
    return c.model
  end, sel.available(ranking)), "available ones, in order")
  T.eq("Tailor: base model (now a); not available: c", sel.prompt(ranking), "prompt")
  T.eq("Tailor: ranking models 42% · scoring b", sel.progress_text({ fraction = 0.42, message = "scoring b" }), "progress")
  T.eq("Tailor: ranking models", sel.progress_text({ fraction = vim.NIL, message = "" }), "progress without details")
  T.eq({}, sel.candidates({ candidates = vim.NIL }), "no candidates")

  local g = require("tailor.ghost")
  T.eq("foo", g._next_word("foo(bar)"), "word")
  T.eq("(", g._next_word("(bar)"), "punctuation")
  T.eq("  bar", g._next_word("  bar baz"), "leading blanks")
  T.eq("\n    ", g._next_word("\n    return x"), "newline + indent")
  T.eq("a(b)", g._next_line("a(b)\nc"), "line")
  T.eq("\nc", g._next_line("\nc\nd"), "next line")
  T.eq("", require("tailor").statusline(), "statusline without a server")
end, 10)
