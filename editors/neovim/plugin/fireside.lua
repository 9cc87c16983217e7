-- Commands are defined here; the language server starts once require('fireside').setup() is called.
vim.api.nvim_create_user_command('FiresideStatus', function()
  local status = require('fireside.status')
  vim.notify(('fireside: %s%s'):format(status.text(), status.message ~= '' and (': ' .. status.message) or ''))
end, { desc = "Fireside's language server state" })
