-- Client-side handlers for the server's commands that need the user: a refactor asks
-- for its instruction (vim.ui.input) and for a yes before applying; an explanation
-- opens in a scratch split.
local M = {}

local function client_of(ctx)
  return vim.lsp.get_client_by_id(ctx.client_id)
end

local function scratch(title, text)
  vim.cmd('botright new')
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = 'nofile'
  vim.bo[bufnr].filetype = 'markdown'
  vim.api.nvim_buf_set_name(bufnr, title)
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, vim.split(text, '\n', { plain = true }))
  return bufnr
end

function M.refactor(command, ctx)
  local client = client_of(ctx)
  local uri, range = command.arguments[1], command.arguments[2]
  vim.ui.input({ prompt = 'Fireside refactor: ' }, function(instruction)
    if not instruction or vim.trim(instruction) == '' then return end
    client:request('workspace/executeCommand', { command = 'fireside.refactor', arguments = { uri, range, instruction } }, function(err, result)
      if err then
        vim.notify('fireside: ' .. err.message, vim.log.levels.WARN)
        return
      end
      local verdict = result.passed and 'checks passed' or 'checks FAILED'
      vim.ui.select({ 'Apply', 'Discard' }, { prompt = ('%s (%s draft by %s, %s)'):format(result.title, result.provenance, result.model, verdict) }, function(choice)
        if choice == 'Apply' then vim.lsp.util.apply_workspace_edit(result.edit, client.offset_encoding) end
      end)
    end, ctx.bufnr)
  end)
end

function M.explain(command, ctx)
  client_of(ctx):request('workspace/executeCommand', command, function(err, result)
    if err then
      vim.notify('fireside: ' .. err.message, vim.log.levels.WARN)
      return
    end
    scratch('fireside://explain', result.content)
  end, ctx.bufnr)
end

function M.register()
  vim.lsp.commands['fireside.refactor'] = M.refactor
  vim.lsp.commands['fireside.explain'] = M.explain
end

M.scratch = scratch
return M
