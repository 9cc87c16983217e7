-- The plugin's options: defaults, and what the language server gets of them.
local M = {}

M.defaults = {
  cmd = { 'fireside', 'lsp' }, -- how to start the language server
  filetypes = { 'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'rust', 'java', 'c', 'cpp', 'lua' },
  settings = {}, -- the server's settings, as in its README: { models = { completion = 'qwen2.5-coder:0.5b' }, completion = { debounceMs = 120 } }
  inline = {
    enabled = true,
    debounce_ms = 75, -- Neovim 0.11 only: wait this long after a keystroke before asking (the server adapts too)
    builtin = true, -- Neovim 0.12+: use vim.lsp.inline_completion
  },
  keymaps = { -- insert mode; false turns one off
    accept = '<Tab>', -- falls back to a plain <Tab> when there is no suggestion
    accept_word = '<M-w>',
    accept_line = '<M-l>',
    dismiss = '<C-]>',
    next = '<M-]>',
    prev = '<M-[>',
  },
}

M.options = vim.deepcopy(M.defaults)

function M.set(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  return M.options
end

return M
