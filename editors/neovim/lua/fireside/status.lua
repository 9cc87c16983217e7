-- The server's `$/fireside/status` for statuslines: require('fireside').status().
local M = { state = 'offline', message = 'not started' }

local words = { idle = 'idle', busy = 'generating', error = 'error', offline = 'offline' }

function M.update(params)
  M.state = words[params and params.state] and params.state or 'error'
  M.message = params and params.message or ''
  vim.schedule(function() vim.api.nvim_exec_autocmds('User', { pattern = 'FiresideStatus', modeline = false }) end)
end

--- A short word for a statusline: idle, generating, error or offline.
function M.text()
  return words[M.state] or M.state
end

return M
