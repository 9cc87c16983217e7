-- Commands are defined here; the language server starts once require('fireside').setup() is called.
vim.api.nvim_create_user_command('FiresideStatus', function()
  local status = require('fireside.status')
  vim.notify(('fireside: %s%s'):format(status.text(), status.message ~= '' and (': ' .. status.message) or ''))
end, { desc = "Fireside's language server state" })

vim.api.nvim_create_user_command('FiresideChat', function(opts) require('fireside.chat').command(opts) end,
  { nargs = '*', range = true, desc = 'Ask Fireside; with a range, about those lines' })
