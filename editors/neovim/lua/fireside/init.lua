-- Fireside for Neovim: a thin client of `fireside lsp`.
--   require('fireside').setup({ settings = { models = { completion = 'qwen2.5-coder:0.5b' } } })
-- Starts the server through vim.lsp.config / vim.lsp.enable (Neovim 0.11+) for the
-- supported filetypes; inline completion through vim.lsp.inline_completion on 0.12+, or
-- this plugin's own ghost text on 0.11; code actions through vim.lsp.buf.code_action().
local config = require('fireside.config')
local status = require('fireside.status')

local M = {}

local function builtin_inline()
  return config.options.inline.builtin and vim.lsp.inline_completion ~= nil
end

--- Whether a suggestion is on screen in the current buffer.
function M.visible()
  local bufnr = vim.api.nvim_get_current_buf()
  if builtin_inline() then
    local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
    return ns ~= nil and #vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { limit = 1 }) > 0
  end
  return require('fireside.ghost').visible(bufnr)
end

--- Accept the suggestion (how: nil for all of it, 'word' or 'line'); false when there is none.
function M.accept(how)
  if builtin_inline() and how == nil then
    return vim.lsp.inline_completion.get() ~= false
  end
  return require('fireside.ghost').accept(how)
end

function M.dismiss()
  require('fireside.ghost').clear(vim.api.nvim_get_current_buf())
end

--- idle, generating, error or offline: for statuslines.
function M.status()
  return status.text()
end

local function keymaps(bufnr)
  local keys = config.options.keymaps
  local function map(lhs, rhs, desc, opts)
    if lhs then vim.keymap.set('i', lhs, rhs, vim.tbl_extend('force', { buffer = bufnr, desc = desc }, opts or {})) end
  end
  -- Accept falls back to the key itself, so <Tab> still indents without a suggestion. An
  -- expression mapping may not change the buffer (textlock): the accept runs right after.
  map(keys.accept, function()
    if M.visible() then
      vim.schedule(function() M.accept() end)
      return ''
    end
    return vim.api.nvim_replace_termcodes(keys.accept, true, false, true)
  end, 'Fireside: accept the suggestion', { expr = true, replace_keycodes = false })
  map(keys.accept_word, function() require('fireside.ghost').accept('word') end, 'Fireside: accept a word')
  map(keys.accept_line, function() require('fireside.ghost').accept('line') end, 'Fireside: accept a line')
  map(keys.dismiss, M.dismiss, 'Fireside: dismiss the suggestion')
  map(keys.next, function()
    if builtin_inline() then vim.lsp.inline_completion.select({ count = 1 }) else require('fireside.ghost').cycle(1) end
  end, 'Fireside: next suggestion')
  map(keys.prev, function()
    if builtin_inline() then vim.lsp.inline_completion.select({ count = -1 }) else require('fireside.ghost').cycle(-1) end
  end, 'Fireside: previous suggestion')
end

local function attached(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if not client or client.name ~= 'fireside' then return end
  if status.state == 'offline' and status.message == 'not started' then status.update({ state = 'idle', message = '' }) end
  if config.options.inline.enabled then
    if builtin_inline() then
      vim.lsp.inline_completion.enable(true, { bufnr = args.buf })
    else
      require('fireside.ghost').attach(args.buf)
    end
  end
  keymaps(args.buf)
end

function M.setup(opts)
  local options = config.set(opts)
  if vim.fn.has('nvim-0.11') == 0 then
    vim.notify('fireside: Neovim 0.11 or newer is needed (vim.lsp.config)', vim.log.levels.ERROR)
    return
  end
  if vim.fn.executable(options.cmd[1]) == 0 then
    vim.notify(('fireside: %s was not found; install Fireside or set cmd in setup()'):format(options.cmd[1]), vim.log.levels.WARN)
  end
  vim.lsp.config('fireside', {
    cmd = options.cmd,
    filetypes = options.filetypes,
    -- The project's root, else the file's folder: checked edits run on a copy of it.
    root_dir = function(bufnr, on_dir)
      on_dir(vim.fs.root(bufnr, { '.fireside.toml', '.git' }) or vim.fs.dirname(vim.api.nvim_buf_get_name(bufnr)))
    end,
    init_options = options.settings,
    settings = { fireside = options.settings },
    handlers = {
      ['$/fireside/status'] = function(_, params) status.update(params) end,
      -- Chat answers stream as partial results; other progress is Neovim's to show.
      ['$/progress'] = function(err, params, ctx, cfg)
        if not require('fireside.chat').progress(params) then return vim.lsp.handlers['$/progress'](err, params, ctx, cfg) end
      end,
    },
  })
  require('fireside.commands').register()
  vim.api.nvim_create_autocmd('LspAttach', { group = vim.api.nvim_create_augroup('fireside', { clear = true }), callback = attached })
  vim.lsp.enable('fireside')
end

return M
