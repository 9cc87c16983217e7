-- Inline completion from a real Neovim buffer against `fireside lsp`.
-- nvim --headless -u NONE -l inline_completion.lua <python> <workdir> <init-options-json>
-- Prints PASS/FAIL lines; exits 0 when every check passes.
local python, workdir, options_json = arg[1], arg[2], arg[3]
local h = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/harness.lua')
local out, check = h.out, h.check

vim.cmd('filetype on')
local path = workdir .. '/greet.py'
vim.fn.writefile({ 'def greet(name):', '    """Say hello 👋 to 世界 and to name."""', '    message = "Hello 👋, " + name', '    return ' }, path)
vim.cmd.edit(path)
local bufnr = vim.api.nvim_get_current_buf()

local client_id = vim.lsp.start({
  name = 'fireside',
  cmd = { python, '-m', 'fireside', 'lsp', '--log-file', workdir .. '/lsp.log', '--log-level', 'debug' },
  root_dir = workdir,
  init_options = vim.json.decode(options_json),
}, { bufnr = bufnr })
local client = vim.lsp.get_client_by_id(client_id)
vim.wait(20000, function() return client.initialized == true or client:is_stopped() end, 20)
check(client.initialized == true, 'initialized')
check(client.server_capabilities.inlineCompletionProvider ~= nil, 'server advertises inlineCompletionProvider')

-- 1) a raw request (Neovim 0.11 has no inline completion UI of its own)
local line = '    return '
local params = {
  textDocument = { uri = vim.uri_from_bufnr(bufnr) },
  position = { line = 3, character = #line },
  context = { triggerKind = 1 },
}
local resp, err = client:request_sync('textDocument/inlineCompletion', params, 60000, bufnr)
out('response:', vim.inspect(resp and resp.result), err or '')
local item = resp and resp.result and resp.result.items and resp.result.items[1]
check(item ~= nil and #vim.trim(item.insertText) > 0, 'inlineCompletion returned a suggestion')
check(item ~= nil and item.range.start.character == #line and item.range['end'].character == #line, 'range is the cursor (no word typed)')

-- 2) Neovim 0.12: the built-in UI shows ghost text and accepting inserts it
if vim.lsp.inline_completion then
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  vim.o.virtualedit = 'onemore' -- the cursor after the last character, as in insert mode
  vim.api.nvim_win_set_cursor(0, { 4, #line })
  vim.api.nvim_exec_autocmds('InsertEnter', { buffer = bufnr })
  local shown = vim.wait(60000, function()
    for _, m in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, -1, 0, -1, { details = true })) do
      if m[4] and (m[4].virt_text or m[4].virt_lines) then return true end
    end
    return false
  end, 20)
  check(shown, 'ghost text shown (extmark)')
  vim.lsp.inline_completion.get({ bufnr = bufnr })
  vim.wait(2000, function() return vim.api.nvim_buf_get_lines(bufnr, 3, 4, false)[1] ~= line end, 20)
  local accepted = vim.api.nvim_buf_get_lines(bufnr, 3, 4, false)[1]
  out('line after accept:', vim.inspect(accepted))
  check(accepted == line .. item.insertText, 'accepting inserts the suggestion')
end

h.finish(client)
