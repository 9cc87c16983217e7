-- Shared by the Neovim test scripts: PASS/FAIL lines, the exit status, and the plugin
-- set up against `fireside lsp` with its log in the work directory.
local M = { ok = true }

function M.out(...)
  io.stdout:write(table.concat(vim.tbl_map(tostring, { ... }), ' ') .. '\n')
end

function M.check(cond, msg)
  M.out((cond and 'PASS ' or 'FAIL ') .. msg)
  if not cond then M.ok = false end
end

--- The plugin from `plugin`, its server run by `python`, logging into `workdir`.
function M.setup_plugin(plugin, python, workdir, settings, extra)
  vim.opt.runtimepath:prepend(plugin)
  vim.cmd('filetype on')
  vim.cmd('runtime plugin/fireside.lua')
  local fireside = require('fireside')
  fireside.setup(vim.tbl_extend('force', {
    cmd = { python, '-m', 'fireside', 'lsp', '--log-file', workdir .. '/lsp.log', '--log-level', 'debug' },
    settings = settings,
  }, extra or {}))
  return fireside
end

--- Stop the server and exit with the checks' verdict.
function M.finish(client)
  if client then
    client:stop(true)
    vim.wait(5000, function() return client:is_stopped() end, 20)
  end
  os.exit(M.ok and 0 or 1)
end

return M
