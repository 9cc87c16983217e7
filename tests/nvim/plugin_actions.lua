-- The plugin's code actions, refactor prompt, chat and health check in a real Neovim:
-- nvim --headless -u NONE -l plugin_actions.lua <plugin-dir> <python> <workdir> <settings-json>
local plugin, python, workdir, settings_json = arg[1], arg[2], arg[3], arg[4]
local h = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/harness.lua')
local out, check = h.out, h.check

h.setup_plugin(plugin, python, workdir, vim.json.decode(settings_json))
local path = workdir .. '/calc.py'
vim.fn.writefile({ 'def add(a, b):', '    return a + b', '', '', 'def double(x):', '    return x * 2' }, path)
vim.cmd.edit(path)
local bufnr = vim.api.nvim_get_current_buf()
local function client() return vim.lsp.get_clients({ bufnr = bufnr, name = 'fireside' })[1] end
check(vim.wait(30000, function() return client() and client().initialized end, 20), 'fireside lsp attached')
local function text() return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n') end

-- A code action from vim.lsp.buf.code_action(), resolved and applied.
vim.api.nvim_win_set_cursor(0, { 2, 4 })
local before = text()
vim.lsp.buf.code_action({ filter = function(a) return a.title:find('add docstring to add', 1, true) ~= nil end, apply = true })
check(vim.wait(120000, function() return text() ~= before end, 50), 'the docstring code action applied its edit')
out(text())

-- "Refactor selection…": the instruction comes from vim.ui.input, the yes from vim.ui.select.
local asked
vim.ui.input = function(opts, on_confirm) asked = opts.prompt; on_confirm('Rename the function to twice.') end
vim.ui.select = function(items, opts, on_choice) out('select:', opts.prompt); on_choice('Apply') end
local lines = vim.api.nvim_buf_line_count(bufnr)
local start = vim.fn.search('^def double') - 1
before = text()
vim.lsp.buf.code_action({ range = { start = { start + 1, 0 }, ['end'] = { lines, 0 } }, filter = function(a) return a.title:find('refactor selection', 1, true) ~= nil end, apply = true })
check(vim.wait(120000, function() return text() ~= before end, 50), 'refactor asked (' .. tostring(asked) .. ') and applied its edit')

-- :FiresideChat streams into its buffer.
vim.cmd('FiresideChat What does add return? One sentence.')
local chat = vim.fn.bufnr('fireside://chat')
check(chat > 0, 'the chat buffer opened')
local function answer()
  local all = table.concat(vim.api.nvim_buf_get_lines(chat, 0, -1, false), '\n')
  return all:match('## Fireside\n(.*)$') or ''
end
local growth = {}
vim.wait(120000, function()
  local now = #answer()
  if growth[#growth] ~= now then growth[#growth + 1] = now end
  return now > 0 and next(require('fireside.chat').streams) == nil
end, 5)
check(#vim.trim(answer()) > 0, 'the answer streamed into the chat buffer')
check(#growth >= 3, 'it arrived in pieces (' .. #growth .. ' sizes seen)')

-- A code block from the chat goes into the file with :FiresideApply (below the cursor there).
vim.cmd('wincmd p')
vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(bufnr), 0 })
vim.cmd('FiresideChat Write a Python function triple(x) that returns x * 3. Answer with one fenced code block only.')
vim.wait(120000, function() return next(require('fireside.chat').streams) == nil end, 20)
local has_block = answer():find('```', 1, true) ~= nil
before = text()
vim.api.nvim_set_current_win(vim.fn.bufwinid(chat))
vim.cmd('FiresideApply')
check(has_block, 'the answer had a code block to apply')
check(text() ~= before and text():find('triple', 1, true) ~= nil, ':FiresideApply put the code block into the file')

-- :checkhealth fireside
vim.cmd('checkhealth fireside')
local health = ''
vim.wait(30000, function()
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.bo[b].filetype == 'checkhealth' then health = table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\n') end
  end
  return health:find('fireside lsp', 1, true) ~= nil
end, 50)
out(health)
check(health:find('OK `', 1, true) ~= nil and health:find('the daemon answers', 1, true) ~= nil, 'checkhealth reports the executable and the daemon OK')
check(health:find('ERROR', 1, true) == nil, 'checkhealth reports no error')

h.finish(client())
