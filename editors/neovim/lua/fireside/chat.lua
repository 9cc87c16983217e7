-- :FiresideChat: a chat buffer in a split, the answer streaming in as it arrives (the
-- server's `fireside/chat`, partial results by `$/progress`). With a range, the selected
-- lines go with the question; without, the current file. :FiresideApply in the chat
-- buffer puts the code block under the cursor into the file: over the selected lines,
-- or below the cursor.
local M = { streams = {} } -- partialResultToken -> chat bufnr

local chat = { bufnr = nil, conversation = nil, origin = nil } -- origin: { bufnr, win, range = {l1, l2} | nil }

local function append(bufnr, text)
  local last = vim.api.nvim_buf_line_count(bufnr)
  local tail = vim.api.nvim_buf_get_lines(bufnr, last - 1, last, false)[1] or ''
  local lines = vim.split(tail .. text, '\n', { plain = true })
  vim.api.nvim_buf_set_lines(bufnr, last - 1, last, false, lines)
end

local function chat_buffer()
  if chat.bufnr and vim.api.nvim_buf_is_valid(chat.bufnr) then
    if vim.fn.bufwinid(chat.bufnr) == -1 then vim.cmd('botright sbuffer ' .. chat.bufnr) end
    return chat.bufnr
  end
  vim.cmd('botright new')
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = 'nofile'
  vim.bo[bufnr].bufhidden = 'hide'
  vim.bo[bufnr].filetype = 'markdown'
  vim.api.nvim_buf_set_name(bufnr, 'fireside://chat')
  vim.api.nvim_buf_create_user_command(bufnr, 'FiresideApply', function() M.apply() end, { desc = 'Put the code block under the cursor into the file' })
  chat.bufnr = bufnr
  return bufnr
end

--- A `$/progress` for one of our chats: add its piece. False for any other progress.
function M.progress(params)
  local bufnr = params and M.streams[params.token]
  if not bufnr then return false end
  local delta = type(params.value) == 'table' and params.value.delta
  if type(delta) == 'string' and vim.api.nvim_buf_is_valid(bufnr) then append(bufnr, delta) end
  return true
end

function M.ask(question, range)
  local origin = vim.api.nvim_get_current_buf()
  local client = vim.lsp.get_clients({ bufnr = origin, name = 'fireside' })[1] or vim.lsp.get_clients({ name = 'fireside' })[1]
  if not client then
    vim.notify('fireside: the language server is not running (open a supported file first)', vim.log.levels.WARN)
    return
  end
  local context = nil
  if vim.lsp.get_clients({ bufnr = origin, name = 'fireside' })[1] then
    context = { uri = vim.uri_from_bufnr(origin), file = range == nil }
    if range then context.range = { range[1] - 1, 0, range[2], 0 } end
  end
  chat.origin = { bufnr = origin, win = vim.api.nvim_get_current_win(), range = range }
  local bufnr = chat_buffer()
  local first = vim.api.nvim_buf_line_count(bufnr) == 1 and vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1] == ''
  append(bufnr, (first and '' or '\n\n') .. '## You\n' .. question .. '\n\n## Fireside\n')
  local token = ('chat-%d'):format(vim.uv.hrtime())
  M.streams[token] = bufnr
  client:request('fireside/chat', {
    conversationId = chat.conversation,
    messages = { { role = 'user', content = question } },
    context = context,
    partialResultToken = token,
  }, function(err, result)
    M.streams[token] = nil
    if err then
      append(bufnr, '\n(error: ' .. err.message .. ')')
    elseif result then
      chat.conversation = result.conversationId
    end
  end, origin)
end

--- The fenced code block around the chat buffer's cursor, as lines.
local function block_at_cursor()
  local lines = vim.api.nvim_buf_get_lines(chat.bufnr, 0, -1, false)
  local row = vim.api.nvim_win_get_cursor(0)[1]
  local open
  for i = 1, #lines do
    if lines[i]:match('^```') then
      if open and i >= row and open <= row then return vim.list_slice(lines, open + 1, i - 1) end
      open = open and nil or i
    end
  end
  -- not inside one: the last block of the chat
  open = nil
  local last
  for i = 1, #lines do
    if lines[i]:match('^```') then
      if open then last = vim.list_slice(lines, open + 1, i - 1); open = nil else open = i end
    end
  end
  return last
end

function M.apply()
  local code = block_at_cursor()
  local origin = chat.origin
  if not code or not origin or not vim.api.nvim_buf_is_valid(origin.bufnr) then
    vim.notify('fireside: no code block to apply, or its file is gone', vim.log.levels.WARN)
    return
  end
  if origin.range then
    vim.api.nvim_buf_set_lines(origin.bufnr, origin.range[1] - 1, origin.range[2], false, code)
  else
    local row = vim.api.nvim_win_is_valid(origin.win) and vim.api.nvim_win_get_cursor(origin.win)[1] or vim.api.nvim_buf_line_count(origin.bufnr)
    vim.api.nvim_buf_set_lines(origin.bufnr, row, row, false, code)
  end
end

function M.command(opts)
  local range = opts.range > 0 and { opts.line1, opts.line2 } or nil
  if opts.args ~= '' then
    M.ask(opts.args, range)
  else
    vim.ui.input({ prompt = 'Ask Fireside: ' }, function(question)
      if question and vim.trim(question) ~= '' then M.ask(question, range) end
    end)
  end
end

return M
