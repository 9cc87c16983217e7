-- The Fireside plugin in a real Neovim, against `fireside lsp`:
-- nvim --headless -u NONE -l plugin.lua <plugin-dir> <python> <workdir> <settings-json> <builtin: 0|1>
-- Prints PASS/FAIL lines; exits 0 when every check passes.
local plugin, python, workdir, settings_json, builtin = arg[1], arg[2], arg[3], arg[4], arg[5] == '1'
local h = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/harness.lua')
local out, check = h.out, h.check

local fireside = h.setup_plugin(plugin, python, workdir, vim.json.decode(settings_json), { inline = { builtin = builtin, debounce_ms = 10 } })
local path = workdir .. '/greet.py'
vim.fn.writefile({ 'def greet(name):', '    message = "Hello, " + name', '    return ' }, path)
vim.cmd.edit(path)
local bufnr = vim.api.nvim_get_current_buf()
local attached = vim.wait(30000, function() return #vim.lsp.get_clients({ bufnr = bufnr, name = 'fireside' }) > 0 and vim.lsp.get_clients({ bufnr = bufnr, name = 'fireside' })[1].initialized end, 20)
check(attached, 'the plugin started fireside lsp for a python buffer')
local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'fireside' })[1]

-- <Tab> with no suggestion is still <Tab>.
local tab = vim.fn.maparg('<Tab>', 'i', false, true)
check(tab.callback ~= nil and tab.callback() == vim.api.nvim_replace_termcodes('<Tab>', true, false, true), '<Tab> without a suggestion inserts a tab')

local line = '    return '
vim.o.virtualedit = 'onemore' -- the cursor after the last character, as in insert mode
vim.api.nvim_win_set_cursor(0, { 3, #line })
local ghost = require('fireside.ghost')
local function shown()
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, -1, 0, -1, { details = true })) do
    if m[4] and (m[4].virt_text or m[4].virt_lines) then return true end
  end
  return false
end
if builtin then
  vim.api.nvim_exec_autocmds('InsertEnter', { buffer = bufnr })
else
  -- A keystroke, then another before the first answer: the first request is cancelled.
  ghost.changed(bufnr)
  vim.wait(200, function() return next(client.requests) ~= nil end, 5)
  local first = next(client.requests)
  ghost.changed(bufnr)
  check(first ~= nil and (client.requests[first] == nil or client.requests[first].type == 'cancel'), 'a newer keystroke cancels the pending request')
end
check(vim.wait(60000, shown, 20), 'ghost text shown (extmark)')
check(fireside.visible(), 'the plugin sees its suggestion')
check(fireside.status() == 'idle' or fireside.status() == 'generating', 'status for statuslines: ' .. fireside.status())
local accepted = tab.callback()
vim.wait(2000, function() return vim.api.nvim_buf_get_lines(bufnr, 2, 3, false)[1] ~= line end, 20)
local after = vim.api.nvim_buf_get_lines(bufnr, 2, 3, false)[1]
out('line after accept:', vim.inspect(after), vim.inspect(accepted))
check(after ~= line and vim.startswith(after, line), '<Tab> accepts the suggestion')
check(not shown(), 'the ghost text is gone after accepting')

h.finish(client)
