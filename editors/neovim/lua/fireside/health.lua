-- :checkhealth fireside
local config = require('fireside.config')

local M = {}

local function run(args)
  local env = {}
  local host = config.options.settings.daemon and config.options.settings.daemon.host
  if host then env.FIRESIDE_HOST = host end
  local ok, result = pcall(function() return vim.system(args, { text = true, env = env }):wait(10000) end)
  if not ok then return nil, tostring(result) end
  return result, nil
end

--- The `fireside` command line: the server's cmd up to its `lsp` ({ 'fireside' }, or
--- { 'python', '-m', 'fireside' }).
local function cli()
  local words = {}
  for _, word in ipairs(config.options.cmd) do
    if word == 'lsp' then break end
    words[#words + 1] = word
  end
  return words
end

function M.check()
  local health = vim.health
  health.start('fireside')
  local cmd = cli()
  local function with(...) return vim.list_extend(vim.deepcopy(cmd), { ... }) end
  if vim.fn.executable(cmd[1]) == 1 then
    local version = run(with('--version'))
    health.ok(('`%s` found: %s'):format(table.concat(cmd, ' '), version and vim.trim(version.stdout or '') or '?'))
  else
    health.error(('`%s` not found'):format(cmd[1]), { 'Install Fireside, or set cmd in setup()' })
    return
  end
  local ps, err = run(with('ps'))
  if ps and ps.code == 0 then
    health.ok('the daemon answers')
    local model = config.options.settings.models and config.options.settings.models.completion or 'smollm2:135m'
    if (ps.stdout or ''):find(model, 1, true) then
      health.ok(('completion model %s is loaded'):format(model))
    else
      health.info(('completion model %s is not loaded yet (it loads on the first completion)'):format(model))
    end
  else
    health.warn('the daemon does not answer: ' .. vim.trim((ps and (ps.stderr or ps.stdout)) or err or ''),
      { 'The language server starts it on first use; or run `fireside serve`' })
  end
  if vim.fn.has('nvim-0.11') == 0 then
    health.error('Neovim 0.11 or newer is needed')
  elseif vim.lsp.inline_completion then
    health.ok('Neovim ' .. tostring(vim.version()) .. ': built-in inline completion (vim.lsp.inline_completion)')
  else
    health.ok('Neovim ' .. tostring(vim.version()) .. ": the plugin's own ghost text (no vim.lsp.inline_completion)")
  end
  local clients = vim.lsp.get_clients({ name = 'fireside' })
  if #clients > 0 then
    health.ok(('fireside lsp is running (%s)'):format(require('fireside.status').text()))
  else
    health.info('fireside lsp is not attached to any buffer yet')
  end
end

return M
